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

# The fields added with pods and runtimes: optional, and named when present but malformed.
optional_cases := {
	"the pod, single-service and runsc inputs are well-formed": {
		"inputs": [fx.single, fx.pod, fx.sandboxed],
		"deny": set(),
	},
	"explicit runtimes and a zero nproc are well-formed": {
		"inputs": [fx.with_patch({"template": {"runtime": "runc"}, "isolation": {"runtime": "runc", "resources": {"nproc": 0}}})],
		"deny": set(),
	},
	"an unknown runtime is well-formed (the plan and runtime packages judge it)": {
		"inputs": [fx.with_patch({"template": {"runtime": "kata"}, "isolation": {"runtime": "kata"}})],
		"deny": set(),
	},
	"present but malformed runtimes and nproc are named": {
		"inputs": [
			fx.with_patch({"template": {"runtime": ""}, "isolation": {"runtime": 7, "resources": {"nproc": -1}}}),
			fx.with_patch({"template": {"runtime": null}, "isolation": {"runtime": ["runsc"], "resources": {"nproc": "32"}}}),
			fx.with_patch({"template": {"runtime": false}, "isolation": {"runtime": false, "resources": {"nproc": null}}}),
		],
		"deny": {
			"input.template.runtime must be a non-empty string",
			"input.isolation.runtime must be a non-empty string",
			"input.isolation.resources.nproc must be a non-negative number",
		},
	},
	"services that are not an array are named once": {
		"inputs": [
			fx.with_patch({"services": "target"}),
			fx.with_patch({"services": null}),
			fx.replacing("services", {"a": fx.service("target", true, fx.hardened)}),
		],
		"deny": {"input.services must be an array of the scenario's containers"},
	},
	"services without a main container are named": {
		"inputs": [fx.with_patch({"services": []}), fx.with_patch({"services": [fx.service("target", false, fx.hardened)]})],
		"deny": {"input.services must have exactly one main container (it has 0)"},
	},
	"two main containers are named": {
		"inputs": [fx.with_patch({"services": [fx.service("a", true, fx.hardened), fx.service("b", true, fx.hardened)]})],
		"deny": {"input.services must have exactly one main container (it has 2)"},
	},
	"two holders are named": {
		"inputs": [object.union(fx.pod, {"services": array.concat(fx.pod.services, [object.union(fx.holder, {"name": "pod2"})])})],
		"deny": {`input.services must have at most one container of role "holder" (it has 2)`},
	},
	"a name used twice is named": {
		"inputs": [object.union(fx.pod, {"services": array.concat(fx.pod.services, [fx.service("db", false, fx.hardened)])})],
		"deny": {`input.services must name each container once ("db" is used 2 times)`},
	},
	"an entry that is not an object is named by its index": {
		"inputs": [fx.with_patch({"services": array.concat(fx.single.services, ["db"])})],
		"deny": {"input.services[1] must be an object"},
	},
	"every malformed field of an entry is named": {
		"inputs": [fx.with_patch({"services": array.concat(fx.single.services, [{"name": "", "role": "sidecar", "main": 0, "containerName": 3, "isolation": "hardened"}])})],
		"deny": {
			"input.services[1].name must be a non-empty string",
			`input.services[1].role must be "service" or "holder"`,
			"input.services[1].main must be a boolean",
			"input.services[1].containerName must be a non-empty string",
			"input.services[1].isolation must be an object",
		},
	},
	"a main entry that is not input.isolation, or not a service, is named": {
		"inputs": [fx.with_patch({"services": [object.union(fx.holder, {"main": true})]})],
		"deny": {
			"input.services[0] is the main container, so its isolation must equal input.isolation",
			`input.services[0] is the main container, so its role must be "service"`,
		},
	},
	"mistyped resources and runtime of another entry are named": {
		"inputs": [fx.patched(fx.pod, "db", {"runtime": "", "resources": {"memoryMb": "64", "memorySwapMb": null, "cpus": -1, "pids": true, "nproc": "8"}})],
		"deny": {
			"input.services[2].isolation.runtime must be a non-empty string",
			"input.services[2].isolation.resources.memoryMb must be a non-negative number",
			"input.services[2].isolation.resources.memorySwapMb must be a non-negative number",
			"input.services[2].isolation.resources.cpus must be a non-negative number",
			"input.services[2].isolation.resources.pids must be a non-negative number",
			"input.services[2].isolation.resources.nproc must be a non-negative number",
		},
	},
	"missing resources of another entry are named": {
		"inputs": [fx.with_patch({"services": array.concat(fx.single.services, [fx.service("db", false, {})])})],
		"deny": {
			"input.services[1].isolation.resources.memoryMb must be a non-negative number",
			"input.services[1].isolation.resources.memorySwapMb must be a non-negative number",
			"input.services[1].isolation.resources.cpus must be a non-negative number",
			"input.services[1].isolation.resources.pids must be a non-negative number",
		},
	},
	"the main entry's resources are named once, as input.isolation's": {
		"inputs": [fx.patched(fx.single, "target", {"resources": {"pids": "32"}})],
		"deny": {"input.isolation.resources.pids must be a non-negative number"},
	},
}

test_optional_fields[name] if {
	some name, tc in optional_cases
	every x in tc.inputs {
		shape.deny == tc.deny with input as x
	}
}

test_services_are_valid_only_when_well_formed if {
	"services" in shape.valid with input as fx.pod
	not "services" in shape.valid with input as fx.allowed
	not "services" in shape.valid with input as fx.with_patch({"services": []})
	not "services" in shape.valid with input as fx.patched(fx.pod, "db", {"resources": {"cpus": "1"}})
}

test_deny[name] if {
	some name, tc in cases
	shape.deny == tc.deny with input as tc.input
}

test_no_input_names_every_field if {
	shape.deny == every_field_reason
}
