package arbiter.spawn.shape_test

import data.arbiter.spawn.fixtures_test as fx
import data.arbiter.spawn.shape

every_field_reason := {
	"input.subject must be a non-empty string",
	"input.tenant must be a non-empty string",
	"input.plan must be a non-empty string",
	"input.track must be a non-empty string",
	"input.template.id must be a non-empty string",
	"input.template.version must be a non-empty string",
	"input.template.digest must be a non-empty string",
	"input.template.network must be a non-empty string",
	"input.template.tracks must be an array of strings",
	"input.template.limits.memoryMb must be a positive number",
	"input.template.limits.cpus must be a positive number",
	"input.template.limits.pids must be a positive number",
	"input.template.limits.ttlSeconds must be a positive number",
	"input.isolation must be an object",
	"input.isolation.resources.memoryMb must be a non-negative number",
	"input.isolation.resources.memorySwapMb must be a non-negative number",
	"input.isolation.resources.cpus must be a non-negative number",
	"input.isolation.resources.pids must be a non-negative number",
}

# Each case pins the whole set of shape reasons, so an extra reason fails too.
cases := {
	"a well-formed input has no shape reasons": {
		"input": fx.allowed,
		"deny": set(),
	},
	"an empty input names every field": {
		"input": {},
		"deny": every_field_reason,
	},
	"a non-object input names every field": {
		"input": ["free", "intro"],
		"deny": every_field_reason,
	},
	"wrongly typed scalars are named": {
		"input": fx.with_patch({"subject": 7, "tenant": "", "plan": null, "track": ["intro"]}),
		"deny": {
			"input.subject must be a non-empty string",
			"input.tenant must be a non-empty string",
			"input.plan must be a non-empty string",
			"input.track must be a non-empty string",
		},
	},
	"wrongly typed template fields are named": {
		"input": fx.with_template({"id": "", "version": 1, "digest": false, "network": {}, "tracks": "intro"}),
		"deny": {
			"input.template.id must be a non-empty string",
			"input.template.version must be a non-empty string",
			"input.template.digest must be a non-empty string",
			"input.template.network must be a non-empty string",
			"input.template.tracks must be an array of strings",
		},
	},
	"a non-string track in the template is named": {
		"input": fx.with_template({"tracks": ["intro", 1]}),
		"deny": {"input.template.tracks must be an array of strings"},
	},
	"zero, negative, string and missing limits are named": {
		"input": fx.with_template({"limits": {"memoryMb": 0, "cpus": -1, "pids": "32"}}),
		"deny": {
			"input.template.limits.memoryMb must be a positive number",
			"input.template.limits.cpus must be a positive number",
			"input.template.limits.pids must be a positive number",
		},
	},
	"a missing limit is named": {
		"input": fx.without("template/limits/ttlSeconds"),
		"deny": {"input.template.limits.ttlSeconds must be a positive number"},
	},
	"an isolation that is not an object is named once, with its resources": {
		"input": fx.with_patch({"isolation": "hardened"}),
		"deny": {
			"input.isolation must be an object",
			"input.isolation.resources.memoryMb must be a non-negative number",
			"input.isolation.resources.memorySwapMb must be a non-negative number",
			"input.isolation.resources.cpus must be a non-negative number",
			"input.isolation.resources.pids must be a non-negative number",
		},
	},
	"mistyped applied resources are named": {
		"input": fx.with_isolation({"resources": {"memoryMb": "64", "memorySwapMb": -1, "cpus": null}}),
		"deny": {
			"input.isolation.resources.memoryMb must be a non-negative number",
			"input.isolation.resources.memorySwapMb must be a non-negative number",
			"input.isolation.resources.cpus must be a non-negative number",
		},
	},
	"zero applied resources are well-formed (the plan package judges them)": {
		"input": fx.with_isolation({"resources": {"memoryMb": 0, "memorySwapMb": 0, "cpus": 0, "pids": 0}}),
		"deny": set(),
	},
}

test_deny[name] if {
	some name, tc in cases
	shape.deny == tc.deny with input as tc.input
}

test_no_input_names_every_field if {
	shape.deny == every_field_reason
}
