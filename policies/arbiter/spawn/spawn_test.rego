package arbiter.spawn_test

import data.arbiter.spawn

hello := {"id": "hello", "version": "1", "tracks": ["intro"]}

web_tpl := {"id": "webapp", "version": "2", "tracks": ["web", "forensics"]}

req(plan, track, template) := {
	"subject": "user-1",
	"tenant": "acme",
	"plan": plan,
	"track": track,
	"template": template,
}

# Each case pins the whole decision, so an extra or reworded reason fails too.
# `allow` is spelled out rather than derived from `reasons` so that a policy
# allowing despite deny reasons is caught.
cases := {
	"free intro hello is allowed": {
		"input": req("free", "intro", hello),
		"allow": true,
		"reasons": [],
	},
	"pro web template on web is allowed": {
		"input": req("pro", "web", web_tpl),
		"allow": true,
		"reasons": [],
	},
	"enterprise agents is allowed": {
		"input": req("enterprise", "agents", {"id": "agent", "version": "3", "tracks": ["agents"]}),
		"allow": true,
		"reasons": [],
	},
	"track outside the plan is denied": {
		"input": req("free", "web", web_tpl),
		"allow": false,
		"reasons": [`track "web" is not in plan "free"`],
	},
	"template not published for the track is denied": {
		"input": req("pro", "web", hello),
		"allow": false,
		"reasons": [`template "hello@1" is not published for track "web"`],
	},
	"every failing rule is reported, sorted": {
		"input": req("free", "web", hello),
		"allow": false,
		"reasons": [
			`template "hello@1" is not published for track "web"`,
			`track "web" is not in plan "free"`,
		],
	},
	"unknown plan is denied without a redundant track reason": {
		"input": req("gold", "intro", hello),
		"allow": false,
		"reasons": [`unknown plan "gold"`],
	},
	"template with no tracks is denied": {
		"input": req("free", "intro", {"id": "hello", "version": "1", "tracks": []}),
		"allow": false,
		"reasons": [`template "hello@1" is not published for track "intro"`],
	},
	"empty input is denied": {
		"input": {},
		"allow": false,
		"reasons": [
			"input.plan must be a non-empty string",
			"input.template.id must be a non-empty string",
			"input.template.tracks must be an array of strings",
			"input.template.version must be a non-empty string",
			"input.track must be a non-empty string",
		],
	},
	"non-object input is denied": {
		"input": ["free", "intro"],
		"allow": false,
		"reasons": [
			"input.plan must be a non-empty string",
			"input.template.id must be a non-empty string",
			"input.template.tracks must be an array of strings",
			"input.template.version must be a non-empty string",
			"input.track must be a non-empty string",
		],
	},
	"wrongly typed fields are denied": {
		"input": req(7, "", {"id": "hello", "version": "1", "tracks": "intro"}),
		"allow": false,
		"reasons": [
			"input.plan must be a non-empty string",
			"input.template.tracks must be an array of strings",
			"input.track must be a non-empty string",
		],
	},
	"non-string template track is denied": {
		"input": req("free", "intro", {"id": "hello", "version": "1", "tracks": ["intro", 1]}),
		"allow": false,
		"reasons": ["input.template.tracks must be an array of strings"],
	},
}

test_decision[name] if {
	some name, tc in cases
	spawn.decision == {"allow": tc.allow, "reasons": tc.reasons} with input as tc.input
}

test_allow_matches_decision[name] if {
	some name, tc in cases
	spawn.allow == tc.allow with input as tc.input
}

# Guards the directory-to-data mapping: policies/plans/data.json must be data.plans.
test_real_plan_data_is_loaded if {
	data.plans.free.tracks == ["intro"]
	"agents" in data.plans.enterprise.tracks
}

# The policy reads the plan catalogue from data, not from constants in the rules.
test_plans_come_from_data if {
	spawn.allow with input as req("free", "web", web_tpl)
		with data.plans as {"free": {"tracks": ["web"]}}
}

test_plans_replaced_in_data_can_deny if {
	spawn.decision == {"allow": false, "reasons": [`unknown plan "free"`]} with input as req("free", "intro", hello)
		with data.plans as {"pro": {"tracks": ["intro"]}}
}

test_no_input_is_denied if {
	not spawn.allow
	count(spawn.decision.reasons) == 5
}
