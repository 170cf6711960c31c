# Pre-launch gate for scenario spawns: the one entrypoint the TypeScript side evaluates,
# in-process from the Wasm build or over an OPA server's REST API.
#
# Each concern lives in its own package and adds human-readable reasons to its `deny`
# set; the decision gathers all of them, so a refusal explains every cause at once.
package arbiter.spawn

import data.arbiter.spawn.access
import data.arbiter.spawn.isolation
import data.arbiter.spawn.plan
import data.arbiter.spawn.runtime
import data.arbiter.spawn.shape
import data.arbiter.spawn.template

default allow := false

allow if count(deny) == 0

deny := (((shape.deny | plan.deny) | template.deny) | isolation.deny) | runtime.deny

# Reasons are sorted so that identical inputs always record byte-identical decisions. The access
# grants ride along (allowed or not), so what the subject may do is decided and recorded here.
decision := {"allow": allow, "reasons": sort(deny), "access": access.grants}
