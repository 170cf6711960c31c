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
