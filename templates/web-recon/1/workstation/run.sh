#!/bin/sh
# The workstation's main process: shows the briefing, then idles until the scenario ends. The work
# happens in a shell (or exec calls) the subject runs here; its result is /work/answer.txt.
cat /opt/challenge/README
# sleep in the background so that SIGTERM interrupts `wait` at once (see templates/hello).
trap 'exit 0' TERM INT
while :; do
  sleep 1 &
  wait $!
done
