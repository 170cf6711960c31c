package arbiter.spawn.runtime_test

import data.arbiter.spawn.fixtures_test as fx
import data.arbiter.spawn.runtime

runsc := {"runtime": "runsc", "resources": {"pids": 0, "nproc": 32}}

mismatch(prefix, on, declared) := concat("", [
	prefix, "the container runs on runtime ", on, `, but template "hello@1" declares `, declared,
])

nproc_under_runc(prefix, n) := concat("", [
	prefix, "the container sets nproc ", n, ` under runtime "runc", where RLIMIT_NPROC counts the uid's`,
	" processes on the whole host, so one scenario could starve every other of the same uid; its processes",
	" must be capped by the pids limit alone",
])

pids_under_runsc(prefix, n) := concat("", [
	prefix, "the container sets a pids limit of ", n, ` under runtime "runsc", which the engine refuses on`,
	" this host's cgroup v1; its processes must be capped by nproc, which gVisor counts per sandbox",
])

runsc_alone(has) := concat("", [
	`a scenario on runtime "runsc" must have exactly one service and no namespace holder, since gVisor gives`,
	" each sandbox its own network stack and services could not share a holder's loopback (it has ", has, ")",
])

# Each case pins the whole set of runtime reasons, so an extra reason fails too.
cases := {
	"an input without runtimes runs on runc, as before": {
		"inputs": [fx.allowed, fx.single, fx.pod],
		"deny": set(),
	},
	"runtimes named runc, with nproc 0, are allowed": {
		"inputs": [fx.with_patch({"template": {"runtime": "runc"}, "isolation": {"runtime": "runc", "resources": {"nproc": 0}}})],
		"deny": set(),
	},
	"a single runsc service capped by nproc is allowed": {
		"inputs": [fx.sandboxed, object.union(fx.sandboxed, {"plan": "free"}), fx.with_patch({"template": {"runtime": "runsc"}, "isolation": runsc})],
		"deny": set(),
	},
	"a runc container of a runsc template is denied": {
		"inputs": [object.union(fx.single, {"template": {"runtime": "runsc"}})],
		"deny": {mismatch("", `"runc"`, `"runsc"`)},
	},
	"a runsc container of a template that declares none is denied": {
		"inputs": [fx.patched(fx.single, "target", runsc)],
		"deny": {mismatch("", `"runsc"`, `"runc"`)},
	},
	"a container on an unknown runtime is denied, and capped by pids": {
		"inputs": [fx.patched(fx.single, "target", {"runtime": "kata"})],
		"deny": {mismatch("", `"kata"`, `"runc"`)},
	},
	"another container on another runtime is denied by name": {
		"inputs": [fx.patched(fx.pod, "db", {"runtime": "runc-debug"})],
		"deny": {mismatch(`service "db": `, `"runc-debug"`, `"runc"`)},
	},
	"an nproc ulimit under runc is denied, for any container": {
		"inputs": [fx.patched(fx.pod, "target", {"resources": {"nproc": 64}}), fx.with_isolation({"resources": {"nproc": 64}})],
		"deny": {nproc_under_runc("", "64")},
	},
	"an nproc ulimit under runc on the holder is denied by name": {
		"inputs": [fx.patched(fx.pod, "pod", {"resources": {"nproc": 8}})],
		"deny": {nproc_under_runc(`service "pod": `, "8")},
	},
	"a pids limit under runsc is denied": {
		"inputs": [fx.patched(fx.sandboxed, "target", {"resources": {"pids": 32}})],
		"deny": {pids_under_runsc("", "32")},
	},
	"a runsc pod is denied, naming its services and holder": {
		"inputs": [object.union(fx.pod, {"template": {"runtime": "runsc"}})],
		"deny": {
			mismatch("", `"runc"`, `"runsc"`),
			mismatch(`service "db": `, `"runc"`, `"runsc"`),
			mismatch(`service "pod": `, `"runc"`, `"runsc"`),
			runsc_alone("2 services and a namespace holder"),
		},
	},
	"a runsc pod made of runsc containers is denied for the pod alone": {
		"inputs": [object.union(runsc_pod, {"template": {"runtime": "runsc"}})],
		"deny": {runsc_alone("2 services and a namespace holder")},
	},
	"a runsc container in a runc pod makes it a runsc pod": {
		"inputs": [fx.patched(fx.pod, "db", runsc)],
		"deny": {mismatch(`service "db": `, `"runsc"`, `"runc"`), runsc_alone("2 services and a namespace holder")},
	},
	"one runsc service with a holder is denied": {
		"inputs": [object.union(runsc_pod, {"template": {"runtime": "runsc"}, "services": array.slice(runsc_pod.services, 0, 2)})],
		"deny": {runsc_alone("1 service and a namespace holder")},
	},
	"two runsc services without a holder are denied": {
		"inputs": [object.union(fx.sandboxed, {"services": array.concat(fx.sandboxed.services, [fx.service("db", false, fx.sandboxed_isolation)])})],
		"deny": {runsc_alone("2 services")},
	},
	"malformed runtime fields are left to the shape package": {
		"inputs": [
			fx.with_patch({"template": {"runtime": 7}, "isolation": runsc}),
			fx.with_patch({"isolation": {"runtime": null, "resources": {"nproc": 8}}}),
			fx.with_patch({"isolation": {"resources": {"nproc": "8"}}}),
			fx.patched(fx.pod, "db", {"runtime": 7, "resources": {"nproc": 8}}),
		],
		"deny": set(),
	},
}

# fx.pod with every container on runsc and capped by nproc.
runsc_pod := fx.patched(fx.patched(fx.patched(fx.pod, "pod", runsc), "target", runsc), "db", runsc)

test_deny[name] if {
	some name, tc in cases
	every x in tc.inputs {
		runtime.deny == tc.deny with input as x
	}
}

test_the_process_cap_is_the_runtime_s if {
	runtime.cap(fx.hardened) == {"name": "pids", "value": 32}
	runtime.cap(object.union(fx.hardened, {"runtime": "runc", "resources": {"nproc": 7}})) == {"name": "pids", "value": 32}
	runtime.cap(object.union(fx.hardened, {"runtime": "kata"})) == {"name": "pids", "value": 32}
	runtime.cap(fx.sandboxed_isolation) == {"name": "nproc", "value": 32}
	runtime.cap(object.union(fx.hardened, {"runtime": "runsc"})) == {"name": "nproc", "value": 0}
}

test_the_declared_runtime_defaults_to_runc if {
	runtime.declared == "runc" with input as fx.allowed
	runtime.declared == "runsc" with input as fx.sandboxed
	not runtime.declared with input as fx.with_template({"runtime": ""})
}
