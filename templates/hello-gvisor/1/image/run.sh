#!/bin/sh
# The root filesystem is read-only and only /work (tmpfs) is writable: this script writes nothing.
echo "hello, arbiter: scenario started"
# sleep runs in the background so that `wait` is interrupted by SIGTERM at once: the trap fires
# immediately instead of after the current sleep, and docker stop never has to escalate to KILL.
trap 'exit 0' TERM INT
while :; do
  sleep 1 &
  wait $!
done
