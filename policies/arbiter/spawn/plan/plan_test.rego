package arbiter.spawn.plan_test

import data.arbiter.spawn.fixtures_test as fx
import data.arbiter.spawn.plan

pro_web := fx.with_patch({"plan": "pro", "track": "web", "template": {"tracks": ["web"]}})

cases := {
	"the intro track on the free plan is allowed": {
		"input": fx.allowed,
		"deny": set(),
	},
	"the web track on the pro plan is allowed": {
		"input": pro_web,
		"deny": set(),
	},
	"limits equal to the plan's are allowed": {
		"input": fx.with_patch({
			"template": {"limits": {"memoryMb": 128, "cpus": 0.5, "pids": 64, "ttlSeconds": 1800}},
			"isolation": {"resources": {"memoryMb": 128, "memorySwapMb": 128, "cpus": 0.5, "pids": 64}},
		}),
		"deny": set(),
	},
	"a track outside the plan is denied, naming track and plan": {
		"input": fx.with_patch({"track": "web"}),
		"deny": {`track "web" is not in plan "free"`},
	},
	"an unknown plan is denied once, without a track or limit reason": {
		"input": fx.with_patch({"plan": "gold"}),
		"deny": {`unknown plan "gold"`},
	},
	"an unknown plan with an unprintable name is denied without echoing it": {
		"input": fx.with_patch({"plan": "go\"ld\n"}),
		"deny": {"unknown plan (a value that cannot be shown)"},
	},
	"every requested limit above the plan is named": {
		"input": fx.with_template({"limits": {"memoryMb": 256, "cpus": 1, "pids": 65, "ttlSeconds": 3600}}),
		"deny": {
			`template "hello@1" requests memoryMb 256, above the 128 plan "free" allows`,
			`template "hello@1" requests cpus 1, above the 0.5 plan "free" allows`,
			`template "hello@1" requests pids 65, above the 64 plan "free" allows`,
			`template "hello@1" requests ttlSeconds 3600, above the 1800 plan "free" allows`,
		},
	},
	"a limit above the plan on an unnamed template still names the limit": {
		"input": fx.with_template({"id": 3, "limits": {"pids": 100}}),
		"deny": {`template (unnamed) requests pids 100, above the 64 plan "free" allows`},
	},
	"applied limits above the plan are named": {
		"input": fx.with_isolation({"resources": {"memoryMb": 512, "memorySwapMb": 512, "cpus": 2, "pids": 1000}}),
		"deny": {
			`the container's memoryMb limit is 512, outside 1..128 for plan "free"`,
			`the container's cpus limit is 2, outside 1..0.5 for plan "free"`,
			`the container's pids limit is 1000, outside 1..64 for plan "free"`,
		},
	},
	"applied limits of zero (unlimited to Docker) are named": {
		"input": fx.with_isolation({"resources": {"memoryMb": 0, "memorySwapMb": 0, "cpus": 0, "pids": 0}}),
		"deny": {
			`the container's memoryMb limit is 0, outside 1..128 for plan "free"`,
			`the container's cpus limit is 0, outside 1..0.5 for plan "free"`,
			`the container's pids limit is 0, outside 1..64 for plan "free"`,
		},
	},
	"malformed fields are left to the shape package": {
		"input": {"plan": 7, "track": "web", "template": {"limits": "big"}, "isolation": []},
		"deny": set(),
	},
}

test_deny[name] if {
	some name, tc in cases
	plan.deny == tc.deny with input as tc.input
}

# Guards the directory-to-data mapping: policies/plans/data.json must be data.plans.
test_real_plan_data_is_loaded if {
	data.plans.free.tracks == ["intro"]
	"agents" in data.plans.enterprise.tracks
	data.plans.free.limits.memoryMb == 128
	data.plans.free.runtimes == ["runc", "runsc"]
	data.plans.sandboxed.runtimes == ["runsc"]
}

# The rules read the plan catalogue from data, not from constants.
test_plans_come_from_data if {
	count(plan.deny) == 0 with input as fx.with_patch({"track": "web", "template": {"tracks": ["web"]}})
		with data.plans as {"free": {"tracks": ["web"], "limits": {"memoryMb": 64, "cpus": 0.5, "pids": 32, "ttlSeconds": 1800}}}
}

test_a_plan_replaced_in_data_can_deny if {
	plan.deny == {`unknown plan "free"`} with input as fx.allowed
		with data.plans as {"pro": {"tracks": ["intro"]}}
}

test_a_plan_without_a_ceiling_denies_instead_of_granting_everything if {
	plan.deny == {
		`plan "free" sets no pids limit`,
		`plan "free" sets no ttlSeconds limit`,
	} with input as fx.allowed
		with data.plans as {"free": {"tracks": ["intro"], "limits": {"memoryMb": 128, "cpus": 1, "pids": "64"}}}
}

test_a_plan_entry_that_is_not_an_object_is_unknown if {
	plan.deny == {`unknown plan "free"`} with input as fx.allowed
		with data.plans as {"free": ["intro"]}
}

runsc := {"runtime": "runsc", "resources": {"pids": 0, "nproc": 32}}

# Resources of one container.
resources(memory, cpus, pids) := {"resources": {"memoryMb": memory, "memorySwapMb": memory, "cpus": cpus, "pids": pids}}

outside(prefix, key, value, ceiling, plan) := concat("", [
	prefix, "the container's ", key, " limit is ", value, ", outside 1..", ceiling, " for plan ", plan,
])

together(n, key, total, ceiling) := concat("", [
	"the scenario's ", n, " containers together ask for ", key, " ", total, ", above the ", ceiling, ` plan "pro" allows`,
])

# fx.pod with every container on runsc and capped by nproc.
runsc_pod := fx.patched(fx.patched(fx.patched(fx.pod, "pod", runsc), "target", runsc), "db", runsc)

pod_cases := {
	"the pod, the single-service and the runsc inputs are allowed": {
		"inputs": [fx.pod, fx.single, fx.sandboxed],
		"deny": set(),
	},
	"a runsc container's processes are capped by nproc": {
		"inputs": [fx.patched(fx.sandboxed, "target", {"resources": {"nproc": 0}}), fx.patched(fx.sandboxed, "target", {"resources": {"pids": 64, "nproc": 0}})],
		"deny": {outside("", "nproc", "0", "256", `"sandboxed"`)},
	},
	"a runsc container without nproc has no process cap": {
		"inputs": [fx.with_patch({"plan": "sandboxed", "template": {"runtime": "runsc"}, "isolation": {"runtime": "runsc", "resources": {"pids": 0}}})],
		"deny": {outside("", "nproc", "0", "256", `"sandboxed"`)},
	},
	"a runsc nproc above the plan's pids is denied": {
		"inputs": [fx.patched(fx.sandboxed, "target", {"resources": {"nproc": 300}})],
		"deny": {outside("", "nproc", "300", "256", `"sandboxed"`)},
	},
	"a runc container's processes are capped by pids, whatever its nproc": {
		"inputs": [fx.with_isolation({"resources": {"pids": 65, "nproc": 64}}), fx.with_isolation({"runtime": "runc", "resources": {"pids": 65}})],
		"deny": {outside("", "pids", "65", "64", `"free"`)},
	},
	"the main container's process cap is left to the shape package when its runtime or nproc is malformed": {
		"inputs": [fx.with_isolation({"runtime": 5, "resources": {"pids": 1000}}), fx.with_isolation({"resources": {"pids": 1000, "nproc": "1"}})],
		"deny": set(),
	},
	"every other container is held to the plan's limits, by name": {
		"inputs": [fx.patched(fx.pod, "db", resources(0, 0, 0))],
		"deny": {
			outside(`service "db": `, "memoryMb", "0", "512", `"pro"`),
			outside(`service "db": `, "cpus", "0", "1", `"pro"`),
			outside(`service "db": `, "pids", "0", "256", `"pro"`),
		},
	},
	"the holder is held to the plan's limits too": {
		"inputs": [fx.patched(fx.pod, "pod", resources(8, 0.1, 0))],
		"deny": {outside(`service "pod": `, "pids", "0", "256", `"pro"`)},
	},
	"another runsc container is capped by nproc": {
		"inputs": [fx.patched(runsc_pod, "db", {"resources": {"nproc": 0}})],
		"deny": {outside(`service "db": `, "nproc", "0", "256", `"pro"`)},
	},
	"containers exactly at the plan's limits together are allowed": {
		"inputs": [fx.patched(fx.pod, "db", resources(440, 0.6, 216))],
		"deny": set(),
	},
	"cpus with binary float noise do not tip the sum over the ceiling": {
		"inputs": [fx.patched(fx.patched(fx.pod, "pod", {"resources": {"cpus": 0.30000000000000004}}), "db", {"resources": {"cpus": 0.4}})],
		"deny": set(),
	},
	"containers each within the plan but above it together are denied": {
		"inputs": [fx.patched(fx.pod, "db", resources(441, 0.7, 217))],
		"deny": {
			together("3", "memoryMb", "513", "512"),
			together("3", "cpus", "1.1", "1"),
			together("3", "pids", "257", "256"),
		},
	},
	"a sum barely above the ceiling is denied, and shown as summed": {
		"inputs": [fx.patched(fx.pod, "db", {"resources": {"cpus": 0.6000001}})],
		"deny": {together("3", "cpus", "1.0000001", "1")},
	},
	"runsc containers sum their nproc": {
		"inputs": [fx.patched(runsc_pod, "db", {"resources": {"nproc": 250}})],
		"deny": {together("3", "pids", "314", "256")},
	},
	"one container is not summed, only held to the plan": {
		"inputs": [fx.patched(fx.single, "target", resources(64, 0.5, 65))],
		"deny": {outside("", "pids", "65", "64", `"free"`)},
	},
	"malformed services are left to the shape package": {
		"inputs": [fx.patched(fx.pod, "db", {"resources": {"memoryMb": 1000, "cpus": "1"}})],
		"deny": set(),
	},
}

test_pods[name] if {
	some name, tc in pod_cases
	every x in tc.inputs {
		plan.deny == tc.deny with input as x
	}
}

runtime_cases := {
	"a runsc template on a plan that allows it is allowed": {
		"inputs": [fx.sandboxed, object.union(fx.sandboxed, {"plan": "free"})],
		"deny": set(),
	},
	"a runc template on a plan that requires runsc is denied once": {
		"inputs": [object.union(fx.allowed, {"plan": "sandboxed"}), object.union(fx.single, {"plan": "sandboxed"})],
		"deny": {`plan "sandboxed" allows runtimes "runsc"; template "hello@1" asks for "runc"`},
	},
	"containers on a runtime the plan does not allow are denied once, each runtime named": {
		"inputs": [fx.patched(fx.patched(object.union(fx.pod, {"plan": "sandboxed", "template": {"runtime": "runsc"}}), "db", {"runtime": "kata"}), "pod", runsc)],
		"deny": {`plan "sandboxed" allows runtimes "runsc"; the scenario's containers would run on "kata", "runc"`},
	},
	"a runtime the template declares is not named again for its containers": {
		"inputs": [fx.with_patch({"template": {"runtime": "kata"}, "isolation": {"runtime": "kata"}})],
		"deny": {`plan "free" allows runtimes "runc", "runsc"; template "hello@1" asks for "kata"`},
	},
	"an unknown plan is not judged for runtimes": {
		"inputs": [object.union(fx.sandboxed, {"plan": "gold"})],
		"deny": {`unknown plan "gold"`},
	},
	"a malformed template runtime is left to the shape package": {
		"inputs": [fx.with_template({"runtime": 7})],
		"deny": set(),
	},
}

test_runtimes[name] if {
	some name, tc in runtime_cases
	every x in tc.inputs {
		plan.deny == tc.deny with input as x
	}
}

# Plans written before runtimes existed run on the engine default only, and so does one
# whose runtimes are not a list.
test_a_plan_without_runtimes_allows_runc_only[name] if {
	free := object.remove(data.plans.free, ["runtimes"])
	some name, plans in {
		"none": {"free": free},
		"not a list": {"free": object.union(free, {"runtimes": "runsc"})},
	}
	plan.deny == set() with input as fx.allowed with data.plans as plans
	plan.deny == {`plan "free" allows runtimes "runc"; template "hello@1" asks for "runsc"`} with input as object.union(fx.sandboxed, {"plan": "free"})
		with data.plans as plans
}
