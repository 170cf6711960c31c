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
