package arbiter.spawn.isolation_test

import data.arbiter.spawn.fixtures_test as fx
import data.arbiter.spawn.isolation

ro_bind(source, target) := {"type": "bind", "source": source, "target": target, "readOnly": true}

# Each case pins the whole set of isolation reasons, so an extra reason fails too.
cases := {
	"the hardened settings are allowed": {
		"input": fx.allowed,
		"deny": set(),
	},
	"a read-only bind of a plain host folder is allowed": {
		"input": fx.with_isolation({"mounts": [ro_bind("/srv/arbiter/fixtures", "/fixtures")]}),
		"deny": set(),
	},
	"a lower-case all in CapDrop is allowed": {
		"input": fx.with_isolation({"capDrop": ["all"]}),
		"deny": set(),
	},
	"a bridge network is denied": {
		"input": fx.with_isolation({"networkMode": "bridge", "networkDisabled": false}),
		"deny": {`networking is enabled (network mode "bridge"); it must be "none" with networking disabled`},
	},
	"the host network is denied": {
		"input": fx.with_isolation({"networkMode": "host"}),
		"deny": {`networking is enabled (network mode "host"); it must be "none" with networking disabled`},
	},
	"network mode none with networking not disabled is denied": {
		"input": fx.with_isolation({"networkDisabled": false}),
		"deny": {`networking is enabled (network mode "none"); it must be "none" with networking disabled`},
	},
	"a writable root filesystem is denied": {
		"input": fx.with_isolation({"readonlyRootfs": false}),
		"deny": {"the root filesystem is writable"},
	},
	"a privileged container is denied": {
		"input": fx.with_isolation({"privileged": true}),
		"deny": {"the container is privileged"},
	},
	"root by uid is denied": {
		"input": fx.with_isolation({"user": "0:0"}),
		"deny": {`the container user "0:0" is not a numeric non-root uid:gid`},
	},
	"root by name is denied": {
		"input": fx.with_isolation({"user": "root"}),
		"deny": {`the container user "root" is not a numeric non-root uid:gid`},
	},
	"the image's default user is denied": {
		"input": fx.with_isolation({"user": ""}),
		"deny": {`the container user "" is not a numeric non-root uid:gid`},
	},
	"the root group is denied": {
		"input": fx.with_isolation({"user": "1000:0"}),
		"deny": {`the container user "1000:0" is not a numeric non-root uid:gid`},
	},
	"a user name, which could map to root, is denied": {
		"input": fx.with_isolation({"user": "nobody:nogroup"}),
		"deny": {`the container user "nobody:nogroup" is not a numeric non-root uid:gid`},
	},
	"capabilities kept are denied": {
		"input": fx.with_isolation({"capDrop": ["NET_RAW"]}),
		"deny": {`not every capability is dropped (dropped: "NET_RAW")`},
	},
	"capabilities added are denied and named": {
		"input": fx.with_isolation({"capAdd": ["NET_ADMIN", "SYS_ADMIN"]}),
		"deny": {`capabilities are added: "NET_ADMIN", "SYS_ADMIN"`},
	},
	"no-new-privileges unset is denied": {
		"input": fx.with_isolation({"noNewPrivileges": false}),
		"deny": {"no-new-privileges is not set"},
	},
	"an unconfined seccomp profile is denied": {
		"input": fx.with_isolation({"seccomp": "unconfined"}),
		"deny": {`the seccomp profile is "unconfined", not the engine's default`},
	},
	"a custom seccomp profile is denied": {
		"input": fx.with_isolation({"seccomp": "custom"}),
		"deny": {`the seccomp profile is "custom", not the engine's default`},
	},
	"every host namespace is denied": {
		"input": fx.with_isolation({"namespaces": {"pid": "host", "ipc": "host", "uts": "host", "userns": "host", "cgroupns": "host"}}),
		"deny": {
			`the container does not get its own pid namespace (mode "host")`,
			`the container does not get its own ipc namespace (mode "host")`,
			`the container does not get its own uts namespace (mode "host")`,
			`the container does not get its own userns namespace (mode "host")`,
			`the container does not get its own cgroupns namespace (mode "host")`,
		},
	},
	"joining another container's namespace is denied": {
		"input": fx.with_isolation({"namespaces": {"pid": "container:other", "ipc": "container:other"}}),
		"deny": {
			`the container does not get its own pid namespace (mode "container:other")`,
			`the container does not get its own ipc namespace (mode "container:other")`,
		},
	},
	"host devices are denied and named": {
		"input": fx.with_isolation({"devices": ["/dev/kvm", "/dev/fuse"]}),
		"deny": {`host devices are exposed: "/dev/kvm", "/dev/fuse"`},
	},
	"the Docker socket is denied even read-only": {
		"input": fx.with_isolation({"mounts": [ro_bind("/var/run/docker.sock", "/var/run/docker.sock")]}),
		"deny": {`the mount of "/var/run/docker.sock" at "/var/run/docker.sock" exposes a socket`},
	},
	"a socket by suffix, or mounted into a runtime directory, is denied": {
		"input": fx.with_isolation({"mounts": [ro_bind("/srv/x.socket", "/x"), ro_bind("/srv/data", "/run/data")]}),
		"deny": {
			`the mount of "/srv/x.socket" at "/x" exposes a socket`,
			`the mount of "/srv/data" at "/run/data" exposes a socket`,
		},
	},
	"a writable bind is denied": {
		"input": fx.with_isolation({"mounts": [{"type": "bind", "source": "/srv/out", "target": "/out", "readOnly": false}]}),
		"deny": {`the mount of "/srv/out" at "/out" is writable`},
	},
	"a writable anonymous volume is denied": {
		"input": fx.with_isolation({"mounts": [{"type": "volume", "source": "", "target": "/data", "readOnly": false}]}),
		"deny": {`the mount of "" at "/data" is writable`},
	},
	"host kernel and device paths are denied even read-only": {
		"input": fx.with_isolation({"mounts": [ro_bind("/", "/host"), ro_bind("/proc/sys", "/p"), ro_bind("/dev", "/d")]}),
		"deny": {
			`the mount of "/" exposes host devices or kernel interfaces`,
			`the mount of "/proc/sys" exposes host devices or kernel interfaces`,
			`the mount of "/dev" exposes host devices or kernel interfaces`,
		},
	},
	"a path that merely starts like a kernel path is allowed": {
		"input": fx.with_isolation({"mounts": [ro_bind("/devices-catalogue", "/c")]}),
		"deny": set(),
	},
	"volumes of another container are denied": {
		"input": fx.with_isolation({"mounts": [{"type": "volumes-from", "source": "other", "target": "", "readOnly": true}]}),
		"deny": {`the mount at "" is of type "volumes-from", which is not allowed`},
	},
	"a malformed mount is denied": {
		"input": fx.with_isolation({"mounts": [{"source": "/srv"}, "/srv:/srv"]}),
		"deny": {"a mount is malformed (it needs string type, source and target and a boolean readOnly)"},
	},
	"mounts that are not a list are denied": {
		"input": fx.with_isolation({"mounts": {"type": "bind"}}),
		"deny": {"the mounts are not a list"},
	},
	"swap is denied": {
		"input": fx.with_isolation({"resources": {"memorySwapMb": 128}}),
		"deny": {"the container may swap (memory-swap must equal memory)"},
	},
	"an empty isolation object fails every check": {
		"input": fx.replacing("isolation", {}),
		"deny": every_check_missing,
	},
	"an isolation that is not an object is left to the shape package": {
		"input": fx.replacing("isolation", ["none"]),
		"deny": set(),
	},
}

every_check_missing := {
	`networking is enabled (network mode (a value that cannot be shown)); it must be "none" with networking disabled`,
	"the root filesystem is writable",
	"the container is privileged",
	"the container user (a value that cannot be shown) is not a numeric non-root uid:gid",
	"not every capability is dropped (dropped: (not a list))",
	"capabilities are added: (not a list)",
	"no-new-privileges is not set",
	"the seccomp profile is (a value that cannot be shown), not the engine's default",
	"the container does not get its own pid namespace (mode (a value that cannot be shown))",
	"the container does not get its own ipc namespace (mode (a value that cannot be shown))",
	"the container does not get its own uts namespace (mode (a value that cannot be shown))",
	"the container does not get its own userns namespace (mode (a value that cannot be shown))",
	"the container does not get its own cgroupns namespace (mode (a value that cannot be shown))",
	"host devices are exposed: (not a list)",
	"the mounts are not a list",
	"the container may swap (memory-swap must equal memory)",
}

test_deny[name] if {
	some name, tc in cases
	isolation.deny == tc.deny with input as tc.input
}

# Each isolation check, as a patch to one container's settings and the reason it gives.
checks := [
	{"patch": {"readonlyRootfs": false}, "reason": "the root filesystem is writable"},
	{"patch": {"privileged": true}, "reason": "the container is privileged"},
	{"patch": {"user": "0:0"}, "reason": `the container user "0:0" is not a numeric non-root uid:gid`},
	{"patch": {"capDrop": ["NET_RAW"]}, "reason": `not every capability is dropped (dropped: "NET_RAW")`},
	{"patch": {"capAdd": ["SYS_ADMIN"]}, "reason": `capabilities are added: "SYS_ADMIN"`},
	{"patch": {"noNewPrivileges": false}, "reason": "no-new-privileges is not set"},
	{"patch": {"seccomp": "unconfined"}, "reason": `the seccomp profile is "unconfined", not the engine's default`},
	{"patch": {"namespaces": {"pid": "host"}}, "reason": `the container does not get its own pid namespace (mode "host")`},
	{"patch": {"devices": ["/dev/kvm"]}, "reason": `host devices are exposed: "/dev/kvm"`},
	{"patch": {"mounts": "docker.sock"}, "reason": "the mounts are not a list"},
	{"patch": {"mounts": [{"source": "/srv"}]}, "reason": "a mount is malformed (it needs string type, source and target and a boolean readOnly)"},
	{"patch": {"mounts": [{"type": "tmpfs", "source": "", "target": "/t", "readOnly": true}]}, "reason": `the mount at "/t" is of type "tmpfs", which is not allowed`},
	{"patch": {"mounts": [{"type": "bind", "source": "/srv/out", "target": "/out", "readOnly": false}]}, "reason": `the mount of "/srv/out" at "/out" is writable`},
	{"patch": {"mounts": [ro_bind("/var/run/docker.sock", "/s")]}, "reason": `the mount of "/var/run/docker.sock" at "/s" exposes a socket`},
	{"patch": {"mounts": [ro_bind("/sys", "/s")]}, "reason": `the mount of "/sys" exposes host devices or kernel interfaces`},
	{"patch": {"resources": {"memorySwapMb": 128}}, "reason": "the container may swap (memory-swap must equal memory)"},
]

# Every check applies to every container of a pod: the main one's reasons read as before,
# the others' name their container, and the main one is not reported twice.
test_every_check_applies_to_every_container[[name, i]] if {
	some name, prefix in {"target": "", "db": `service "db": `, "pod": `service "pod": `}
	some i, check in checks
	isolation.deny == {concat("", [prefix, check.reason])} with input as fx.patched(fx.pod, name, check.patch)
}

test_every_check_applies_to_the_main_container_of_a_single_service if {
	every check in checks {
		isolation.deny == {check.reason} with input as fx.patched(fx.single, "target", check.patch)
	}
}

test_problems_judges_any_settings_object if {
	isolation.problems("service", fx.hardened) == set()
	isolation.problems("holder", fx.holder.isolation) == set()
	isolation.problems("service", {"resources": {"memoryMb": 8, "memorySwapMb": 8}}) == every_check_missing - {"the container may swap (memory-swap must equal memory)"}
}

test_an_empty_isolation_of_another_container_fails_every_check_but_swap if {
	checks_failed := {concat("", [`service "db": `, r]) |
		some r in every_check_missing
		r != "the container may swap (memory-swap must equal memory)"
	}
	reasons := checks_failed | {"services of one scenario must share the namespace holder's loopback, but its 2 services have no namespace holder"}
	db := fx.service("db", false, {"resources": {"memoryMb": 8, "memorySwapMb": 8, "cpus": 0.1, "pids": 8}})
	isolation.deny == reasons with input as object.union(fx.single, {"services": array.concat(fx.single.services, [db])})
}

joined_to(name) := {"networkMode": concat("", ["container:", name])}

not_joined(name, mode) := concat("", [
	"services of one scenario must share the namespace holder's loopback, but service ", name,
	" does not join it (network mode ", mode, ")",
])

pod_cases := {
	"the pod, the single-service and the runsc inputs are allowed": {
		"inputs": [fx.pod, fx.single, fx.sandboxed],
		"deny": set(),
	},
	"one service joined to a holder is allowed": {
		"inputs": [object.union(fx.pod, {"services": array.slice(fx.pod.services, 0, 2)})],
		"deny": set(),
	},
	"a service with a network of its own is denied twice over": {
		"inputs": [fx.patched(fx.pod, "db", {"networkMode": "bridge", "networkDisabled": false})],
		"deny": {
			`service "db": networking is enabled (network mode "bridge"); it must be "none" with networking disabled`,
			not_joined(`"db"`, `"bridge"`),
		},
	},
	"a service on the host network is denied": {
		"inputs": [fx.patched(fx.pod, "target", {"networkMode": "host"})],
		"deny": {
			`networking is enabled (network mode "host"); it must be "none" with networking disabled`,
			not_joined(`"target"`, `"host"`),
		},
	},
	"a service without a network, outside the holder, is cut off from its siblings": {
		"inputs": [fx.patched(fx.pod, "db", {"networkMode": "none", "networkDisabled": true})],
		"deny": {not_joined(`"db"`, `"none"`)},
	},
	"a service joined to a sibling instead of the holder is denied": {
		"inputs": [fx.patched(fx.pod, "db", joined_to("arbiter-scn-1-svc-target"))],
		"deny": {
			`service "db": network mode "container:arbiter-scn-1-svc-target" joins a container that is not this scenario's namespace holder`,
			not_joined(`"db"`, `"container:arbiter-scn-1-svc-target"`),
		},
	},
	"a service joined to another scenario's container is denied": {
		"inputs": [fx.patched(fx.pod, "target", joined_to("arbiter-scn-2-pod"))],
		"deny": {
			`network mode "container:arbiter-scn-2-pod" joins a container that is not this scenario's namespace holder`,
			not_joined(`"target"`, `"container:arbiter-scn-2-pod"`),
		},
	},
	# The engine keeps a container whose networking is disabled out of the holder's namespace:
	# it would be alone, not exposed; either way the service sees only a loopback.
	"a joined service with networking enabled or disabled is allowed": {
		"inputs": [fx.patched(fx.pod, "db", {"networkDisabled": false}), fx.patched(fx.pod, "db", {"networkDisabled": true})],
		"deny": set(),
	},
	"a holder with a network is denied, and so is every service joined to it": {
		"inputs": [fx.patched(fx.pod, "pod", {"networkMode": "bridge", "networkDisabled": false})],
		"deny": {
			`service "pod": networking is enabled (network mode "bridge"); it must be "none" with networking disabled`,
			`network mode "container:arbiter-scn-1-pod" joins a namespace holder that has a network of its own`,
			`service "db": network mode "container:arbiter-scn-1-pod" joins a namespace holder that has a network of its own`,
		},
	},
	# The engine writes the /etc/hosts its services share only when the holder's networking
	# is not disabled; mode "none" gives the namespace only lo either way.
	"a holder with mode none but networking not disabled is allowed": {
		"inputs": [fx.patched(fx.pod, "pod", {"networkDisabled": false})],
		"deny": set(),
	},
	"a holder that joins another container is denied": {
		"inputs": [fx.patched(fx.pod, "pod", joined_to("arbiter-scn-1-svc-db"))],
		"deny": {
			`service "pod": networking is enabled (network mode "container:arbiter-scn-1-svc-db"); it must be "none" with networking disabled`,
			`network mode "container:arbiter-scn-1-pod" joins a namespace holder that has a network of its own`,
			`service "db": network mode "container:arbiter-scn-1-pod" joins a namespace holder that has a network of its own`,
		},
	},
	"two services without a holder are denied": {
		"inputs": [object.union(fx.single, {"services": array.concat(fx.single.services, [fx.service("db", false, fx.hardened)])})],
		"deny": {"services of one scenario must share the namespace holder's loopback, but its 2 services have no namespace holder"},
	},
	"services joined to a holder that is not listed are denied": {
		"inputs": [object.union(fx.pod, {"services": array.slice(fx.pod.services, 1, 3)})],
		"deny": {
			"services of one scenario must share the namespace holder's loopback, but its 2 services have no namespace holder",
			`network mode "container:arbiter-scn-1-pod" joins a container that is not this scenario's namespace holder`,
			`service "db": network mode "container:arbiter-scn-1-pod" joins a container that is not this scenario's namespace holder`,
		},
	},
	"without input.services a joined container keeps the reason it always got": {
		"inputs": [fx.with_isolation(joined_to("arbiter-scn-1-pod"))],
		"deny": {`networking is enabled (network mode "container:arbiter-scn-1-pod"); it must be "none" with networking disabled`},
	},
	"a network mode that is not a string is denied, not skipped": {
		"inputs": [fx.patched(fx.single, "target", {"networkMode": ["container:x"]})],
		"deny": {`networking is enabled (network mode (a value that cannot be shown)); it must be "none" with networking disabled`},
	},
	"malformed services are left to the shape package": {
		"inputs": [
			fx.patched(fx.pod, "db", {"privileged": true, "resources": {"cpus": "1"}}),
			object.union(fx.pod, {"services": {"db": fx.service("db", false, fx.hardened)}}),
		],
		"deny": set(),
	},
}

test_pods[name] if {
	some name, tc in pod_cases
	every x in tc.inputs {
		isolation.deny == tc.deny with input as x
	}
}
