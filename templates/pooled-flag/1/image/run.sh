#!/bin/sh
# Made before its scenario exists (a warm pool's entry) or at its spawn, the same way: nothing here
# knows the scenario. The host writes /work/.arbiter/scenario.json and the flag after the claim.
echo "pooled-flag: container up"
# sleep in the background so that `wait` is interrupted by SIGTERM at once (see hello's run.sh).
trap 'exit 0' TERM INT
while :; do
  sleep 1 &
  wait $!
done
