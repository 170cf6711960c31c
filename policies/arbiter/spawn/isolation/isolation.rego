# Whether the container about to be created is isolated completely. The input is the
# summary activities/isolation-settings.ts derives from the very Docker create options
# the launch will send, so this judges what will be applied, not what was intended.
#
# Every check is written as "deny unless the safe value is present": a missing or
# mistyped setting fails the check instead of skipping it. (A non-object `isolation`
# is reported once by the shape package instead of once per setting here.)
package arbiter.spawn.isolation

import data.arbiter.text

settings := input.isolation if is_object(input.isolation)

setting(name) := object.get(settings, name, null)

namespace_kinds := ["pid", "ipc", "uts", "userns", "cgroupns"]

# Sockets live in the runtime directories or carry a socket suffix; a socket stays
# usable through a read-only bind, so it is refused whatever the mount's mode.
socket_prefixes := ["/run/", "/var/run/"]

socket_suffixes := [".sock", ".socket"]

# Host paths that hand the container devices or kernel interfaces.
kernel_paths := ["/", "/dev", "/proc", "/sys", "/boot", "/lib/modules", "/var/lib/docker"]

deny contains concat("", ["networking is enabled (network mode ", text.quote(setting("networkMode")), "); it must be \"none\" with networking disabled"]) if {
	is_object(settings)
	not network_off
}

network_off if {
	setting("networkMode") == "none"
	setting("networkDisabled") == true
}

deny contains "the root filesystem is writable" if {
	is_object(settings)
	setting("readonlyRootfs") != true
}

deny contains "the container is privileged" if {
	is_object(settings)
	setting("privileged") != false
}

deny contains concat("", ["the container user ", text.quote(setting("user")), " is not a numeric non-root uid:gid"]) if {
	is_object(settings)
	not non_root
}

non_root if regex.match(`^[1-9][0-9]*:[1-9][0-9]*$`, setting("user"))

deny contains concat("", ["not every capability is dropped (dropped: ", text.list(setting("capDrop")), ")"]) if {
	is_object(settings)
	not all_caps_dropped
}

all_caps_dropped if {
	is_array(setting("capDrop"))
	some cap in setting("capDrop")
	upper(cap) == "ALL"
}

deny contains concat("", ["capabilities are added: ", text.list(setting("capAdd"))]) if {
	is_object(settings)
	setting("capAdd") != []
}

deny contains "no-new-privileges is not set" if {
	is_object(settings)
	setting("noNewPrivileges") != true
}

deny contains concat("", ["the seccomp profile is ", text.quote(setting("seccomp")), ", not the engine's default"]) if {
	is_object(settings)
	setting("seccomp") != "default"
}

deny contains msg if {
	is_object(settings)
	some kind in namespace_kinds
	not own_namespace(kind)
	msg := concat("", ["the container does not get its own ", kind, " namespace (mode ", text.quote(namespace_mode(kind)), ")"])
}

namespace_mode(kind) := object.get(setting("namespaces"), kind, null) if is_object(setting("namespaces"))

else := null

# "" is the engine's default (a private namespace); "host" and "container:<id>" share one.
own_namespace(kind) if {
	mode := namespace_mode(kind)
	is_string(mode)
	mode != "host"
	not startswith(mode, "container:")
}

deny contains concat("", ["host devices are exposed: ", text.list(setting("devices"))]) if {
	is_object(settings)
	setting("devices") != []
}

deny contains "the mounts are not a list" if {
	is_object(settings)
	not is_array(setting("mounts"))
}

deny contains "a mount is malformed (it needs string type, source and target and a boolean readOnly)" if {
	some m in mounts
	not well_formed(m)
}

deny contains msg if {
	some m in mounts
	well_formed(m)
	not m.type in {"bind", "volume"}
	msg := concat("", ["the mount at ", text.quote(m.target), " is of type ", text.quote(m.type), ", which is not allowed"])
}

deny contains msg if {
	some m in mounts
	well_formed(m)
	m.readOnly != true
	msg := concat("", ["the mount of ", text.quote(m.source), " at ", text.quote(m.target), " is writable"])
}

deny contains msg if {
	some m in mounts
	well_formed(m)
	some path in [m.source, m.target]
	socket_path(path)
	msg := concat("", ["the mount of ", text.quote(m.source), " at ", text.quote(m.target), " exposes a socket"])
}

deny contains msg if {
	some m in mounts
	well_formed(m)
	m.type == "bind"
	kernel_path(m.source)
	msg := concat("", ["the mount of ", text.quote(m.source), " exposes host devices or kernel interfaces"])
}

mounts := setting("mounts") if is_array(setting("mounts"))

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
deny contains "the container may swap (memory-swap must equal memory)" if {
	is_object(settings)
	not swap_off
}

swap_off if {
	resources := setting("resources")
	is_number(resources.memoryMb)
	resources.memorySwapMb == resources.memoryMb
}
