package arbiter.spawn_test

import data.arbiter.spawn
import data.arbiter.spawn.fixtures_test as fx

# Each case pins the whole decision. `allow` is spelled out rather than derived from
# `reasons` so that a policy allowing despite deny reasons is caught.
cases := {
	"the hardened hello scenario on the free plan is allowed": {
		"input": fx.allowed,
		"allow": true,
		"reasons": [],
	},
	"a web template on the pro plan is allowed": {
		"input": fx.with_patch({"plan": "pro", "track": "web", "template": {"id": "webapp", "version": "2", "tracks": ["web", "forensics"]}}),
		"allow": true,
		"reasons": [],
	},
	"a reason from each package is reported, sorted": {
		"input": fx.with_patch({"track": "web", "isolation": {"privileged": true, "user": "0:0"}}),
		"allow": false,
		"reasons": [
			`template "hello@1" is not published for track "web"`,
			"the container is privileged",
			`the container user "0:0" is not a numeric non-root uid:gid`,
			`track "web" is not in plan "free"`,
		],
	},
	"a template over the plan on an open container reports both": {
		"input": fx.with_patch({"template": {"limits": {"memoryMb": 4096}}, "isolation": {"networkMode": "bridge", "networkDisabled": false}}),
		"allow": false,
		"reasons": [
			`networking is enabled (network mode "bridge"); it must be "none" with networking disabled`,
			`template "hello@1" requests memoryMb 4096, above the 128 plan "free" allows`,
		],
	},
	"a two-service pod on the pro plan is allowed": {
		"input": fx.pod,
		"allow": true,
		"reasons": [],
	},
	"hello under gVisor on the sandboxed plan is allowed": {
		"input": fx.sandboxed,
		"allow": true,
		"reasons": [],
	},
	"a pod on runsc is denied, with the plan's, the runtime's and each container's reasons": {
		"input": object.union(fx.pod, {"plan": "sandboxed", "template": {"runtime": "runsc"}}),
		"allow": false,
		"reasons": [
			`a scenario on runtime "runsc" must have exactly one service and no namespace holder, since gVisor gives each sandbox its own network stack and services could not share a holder's loopback (it has 2 services and a namespace holder)`,
			`plan "sandboxed" allows runtimes "runsc"; the scenario's containers would run on "runc"`,
			`service "db": the container runs on runtime "runc", but template "hello@1" declares "runsc"`,
			`service "pod": the container runs on runtime "runc", but template "hello@1" declares "runsc"`,
			`the container runs on runtime "runc", but template "hello@1" declares "runsc"`,
		],
	},
	"a weak sibling in a pod over the plan is denied by name, with the pod's total": {
		"input": fx.patched(fx.pod, "db", {"privileged": true, "networkMode": "none", "networkDisabled": true, "resources": {"memoryMb": 500, "memorySwapMb": 500}}),
		"allow": false,
		"reasons": [
			`service "db": the container is privileged`,
			`services of one scenario must share the namespace holder's loopback, but service "db" does not join it (network mode "none")`,
			`the scenario's 3 containers together ask for memoryMb 572, above the 512 plan "pro" allows`,
		],
	},
	"a partial input is denied with a reason for each missing part": {
		"input": {"subject": "user-1", "tenant": "acme", "plan": "free", "track": "intro", "template": fx.hello},
		"allow": false,
		"reasons": [
			"input.isolation must be an object",
			"input.isolation.resources.cpus must be a non-negative number",
			"input.isolation.resources.memoryMb must be a non-negative number",
			"input.isolation.resources.memorySwapMb must be a non-negative number",
			"input.isolation.resources.pids must be a non-negative number",
		],
	},
}

test_decision[name] if {
	some name, tc in cases
	d := spawn.decision with input as tc.input
	{"allow": d.allow, "reasons": d.reasons} == {"allow": tc.allow, "reasons": tc.reasons}
}

test_allow_matches_decision[name] if {
	some name, tc in cases
	spawn.allow == tc.allow with input as tc.input
}

test_an_empty_input_is_denied_with_every_shape_reason if {
	not spawn.allow with input as {}
	count(spawn.decision.reasons) == 18 with input as {}
}

test_no_input_is_denied if {
	not spawn.allow
	count(spawn.decision.reasons) == 18
}

# Default deny: one reason from any package is enough.
test_any_single_reason_denies[reason] if {
	some reason in ["a", "b"]
	not spawn.allow with spawn.deny as {reason}
}
