# Whether every container of the scenario is isolated completely. The input is the
# summary activities/isolation-settings.ts derives from the very Docker create options
# the launch will send, so this judges what will be applied, not what was intended.
#
# Every check is written as "deny unless the safe value is present": a missing or
# mistyped setting fails the check instead of skipping it. (A non-object `isolation`
# is reported once by the shape package instead of once per setting here.)
package arbiter.spawn.isolation

import data.arbiter.spawn.pod
import data.arbiter.text

namespace_kinds := ["pid", "ipc", "uts", "userns", "cgroupns"]

# Sockets live in the runtime directories or carry a socket suffix; a socket stays
# usable through a read-only bind, so it is refused whatever the mount's mode.
socket_prefixes := ["/run/", "/var/run/"]

socket_suffixes := [".sock", ".socket"]

# Host paths that hand the container devices or kernel interfaces.
kernel_paths := ["/", "/dev", "/proc", "/sys", "/boot", "/lib/modules", "/var/lib/docker"]

# The main container's reasons read as they did before scenarios had several containers.
deny contains msg if {
	is_object(input.isolation)
	some msg in problems("service", input.isolation)
}

# Every other container is held to the same checks: one weak container would hand its
# siblings' shared namespace to whatever runs in it.
deny contains msg if {
	some e in pod.others
	some problem in problems(e.role, e.isolation)
	msg := concat("", [pod.label(e), problem])
}

# Services reach each other only on the holder's loopback: a service outside the holder's
# namespace is cut off from its siblings, so a pod without one cannot work as declared.
deny contains msg if {
	n := count(pod.services)
	n > 1
	not pod.has_holder
	msg := concat("", ["services of one scenario must share the namespace holder's loopback, but its ", text.number(n), " services have no namespace holder"])
}

deny contains msg if {
	pod.has_holder
	some e in pod.services
	not in_holder_namespace(e.isolation)
	msg := concat("", [
		"services of one scenario must share the namespace holder's loopback, but service ", text.quote(e.name),
		" does not join it (network mode ", text.quote(setting(e.isolation, "networkMode")), ")",
	])
}

in_holder_namespace(s) if s.networkMode == pod.holder_mode

# Every reason the settings `s` of a container of `role` ("service" or "holder") are not
# isolated, whichever container of the scenario they belong to.
problems(role, s) := union({
	network(role, s),
	{"the root filesystem is writable" | setting(s, "readonlyRootfs") != true},
	{"the container is privileged" | setting(s, "privileged") != false},
	{msg |
		not non_root(s)
		msg := concat("", ["the container user ", text.quote(setting(s, "user")), " is not a numeric non-root uid:gid"])
	},
	{msg |
		not all_caps_dropped(s)
		msg := concat("", ["not every capability is dropped (dropped: ", text.list(setting(s, "capDrop")), ")"])
	},
	{msg |
		setting(s, "capAdd") != []
		msg := concat("", ["capabilities are added: ", text.list(setting(s, "capAdd"))])
	},
	{"no-new-privileges is not set" | setting(s, "noNewPrivileges") != true},
	{msg |
		setting(s, "seccomp") != "default"
		msg := concat("", ["the seccomp profile is ", text.quote(setting(s, "seccomp")), ", not the engine's default"])
	},
	{msg |
		some kind in namespace_kinds
		not own_namespace(s, kind)
		msg := concat("", ["the container does not get its own ", kind, " namespace (mode ", text.quote(namespace_mode(s, kind)), ")"])
	},
	{msg |
		setting(s, "devices") != []
		msg := concat("", ["host devices are exposed: ", text.list(setting(s, "devices"))])
	},
	mount_problems(s),
	{"the container may swap (memory-swap must equal memory)" | not swap_off(s)},
})

setting(s, name) := object.get(s, name, null)

# A service has no network, or joins its scenario's holder; the holder, which owns the
# namespace, has none. Without input.services (an older input) a joined container has no
# holder to be judged against, and keeps the reason it always got.
network(role, s) := set() if {
	pod.network_off(s)
} else := set() if {
	role == "holder"
	pod.holder_network_off(s)
} else := set() if {
	role == "service"
	pod.joins_holder(s)
} else := {join_problem(s)} if {
	role == "service"
	pod.given
	joins_a_container(s)
} else := set() if {
	# The holder it joins is in an input.services the shape package refuses (and names):
	# there is nothing to judge the join against.
	role == "service"
	pod.listed
	joins_a_container(s)
} else := {concat("", ["networking is enabled (network mode ", text.quote(setting(s, "networkMode")), "); it must be \"none\" with networking disabled"])}

joins_a_container(s) if {
	mode := setting(s, "networkMode")
	is_string(mode)
	startswith(mode, "container:")
}

join_problem(s) := concat("", ["network mode ", text.quote(s.networkMode), " joins a container that is not this scenario's namespace holder"]) if {
	not in_holder_namespace(s)
} else := concat("", ["network mode ", text.quote(s.networkMode), " joins a namespace holder that has a network of its own"])

non_root(s) if regex.match(`^[1-9][0-9]*:[1-9][0-9]*$`, setting(s, "user"))

all_caps_dropped(s) if {
	is_array(setting(s, "capDrop"))
	some cap in setting(s, "capDrop")
	upper(cap) == "ALL"
}

namespace_mode(s, kind) := object.get(setting(s, "namespaces"), kind, null) if is_object(setting(s, "namespaces"))

else := null

# "" is the engine's default (a private namespace); "host" and "container:<id>" share one.
own_namespace(s, kind) if {
	mode := namespace_mode(s, kind)
	is_string(mode)
	mode != "host"
	not startswith(mode, "container:")
}

mount_problems(s) := union({
	{"the mounts are not a list" | not is_array(setting(s, "mounts"))},
	{"a mount is malformed (it needs string type, source and target and a boolean readOnly)" |
		some m in mounts(s)
		not well_formed(m)
	},
	{msg |
		some m in mounts(s)
		well_formed(m)
		not m.type in {"bind", "volume"}
		msg := concat("", ["the mount at ", text.quote(m.target), " is of type ", text.quote(m.type), ", which is not allowed"])
	},
	{msg |
		some m in mounts(s)
		well_formed(m)
		m.readOnly != true
		msg := concat("", ["the mount of ", text.quote(m.source), " at ", text.quote(m.target), " is writable"])
	},
	{msg |
		some m in mounts(s)
		well_formed(m)
		some path in [m.source, m.target]
		socket_path(path)
		msg := concat("", ["the mount of ", text.quote(m.source), " at ", text.quote(m.target), " exposes a socket"])
	},
	{msg |
		some m in mounts(s)
		well_formed(m)
		m.type == "bind"
		kernel_path(m.source)
		msg := concat("", ["the mount of ", text.quote(m.source), " exposes host devices or kernel interfaces"])
	},
})

mounts(s) := setting(s, "mounts") if is_array(setting(s, "mounts"))

else := []

well_formed(m) if {
	is_string(m.type)
	is_string(m.source)
	is_string(m.target)
	is_boolean(m.readOnly)
}

socket_path(path) if {
	some prefix in socket_prefixes
	startswith(path, prefix)
}

socket_path(path) if {
	some suffix in socket_suffixes
	endswith(path, suffix)
}

kernel_path(path) if {
	some root in kernel_paths
	path == root
}

kernel_path(path) if {
	some root in kernel_paths
	root != "/"
	startswith(path, concat("", [root, "/"]))
}

# Memory equal to memory+swap means no swap, so the memory limit is the real limit.
swap_off(s) if {
	resources := setting(s, "resources")
	is_number(resources.memoryMb)
	resources.memorySwapMb == resources.memoryMb
}
