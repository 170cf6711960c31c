# Which fields of the spawn input are well-formed.
#
# A rule over a missing field is undefined rather than false, so a rule that read a
# malformed field directly would quietly not fire, and an empty deny set means allow.
# The other spawn packages therefore read a field only once it is in `valid`, and every
# field that is not in `valid` yields a reason here: a partial or mistyped input is
# always refused, and the refusal names each field that is wrong.
package arbiter.spawn.shape

import data.arbiter.text

limit_keys := ["memoryMb", "cpus", "pids", "ttlSeconds"]

resource_keys := ["memoryMb", "memorySwapMb", "cpus", "pids"]

# field -> what it must be, for the reason.
requirements := object.union_n([
	{
		"subject": "a non-empty string",
		"tenant": "a non-empty string",
		"plan": "a non-empty string",
		"track": "a non-empty string",
		"template.id": "a non-empty string",
		"template.version": "a non-empty string",
		"template.digest": "a non-empty string",
		"template.network": "a non-empty string",
		"template.tracks": "an array of strings",
		"isolation": "an object",
	},
	{concat(".", ["template.limits", key]): "a positive number" | some key in limit_keys},
	{concat(".", ["isolation.resources", key]): "a non-negative number" | some key in resource_keys},
	optional,
])

# Fields added after the first inputs were recorded: absent means the default (runtime
# "runc", no nproc ulimit), so an older input still evaluates as before, but a value that
# is present must be well-formed.
optional := {
	"template.runtime": "a non-empty string",
	"isolation.runtime": "a non-empty string",
	"isolation.resources.nproc": "a non-negative number",
}

valid contains "subject" if non_empty_string(input.subject)

valid contains "tenant" if non_empty_string(input.tenant)

valid contains "plan" if non_empty_string(input.plan)

valid contains "track" if non_empty_string(input.track)

valid contains "template.id" if non_empty_string(input.template.id)

valid contains "template.version" if non_empty_string(input.template.version)

valid contains "template.digest" if non_empty_string(input.template.digest)

valid contains "template.network" if non_empty_string(input.template.network)

valid contains "template.tracks" if string_array(input.template.tracks)

valid contains "isolation" if is_object(input.isolation)

valid contains field if {
	some key in limit_keys
	input.template.limits[key] > 0
	is_number(input.template.limits[key])
	field := concat(".", ["template.limits", key])
}

valid contains field if {
	some key in resource_keys
	input.isolation.resources[key] >= 0
	is_number(input.isolation.resources[key])
	field := concat(".", ["isolation.resources", key])
}

valid contains field if {
	some field, _ in optional
	not field in malformed
}

malformed contains "template.runtime" if {
	has(input.template, "runtime")
	not non_empty_string(input.template.runtime)
}

malformed contains "isolation.runtime" if {
	has(input.isolation, "runtime")
	not non_empty_string(input.isolation.runtime)
}

malformed contains "isolation.resources.nproc" if {
	has(input.isolation.resources, "nproc")
	not non_negative(input.isolation.resources.nproc)
}

deny contains concat("", ["input.", field, " must be ", what]) if {
	some field, what in requirements
	not field in valid
}

non_empty_string(x) if {
	is_string(x)
	x != ""
}

string_array(xs) if {
	is_array(xs)
	every x in xs {
		is_string(x)
	}
}

non_negative(x) if {
	is_number(x)
	x >= 0
}

# Whether obj has the key, whatever its value (false and null included); false for a
# non-object. A field that is present and null must be refused, not read as absent.
has(obj, key) if {
	_ = obj[key]
}

# input.services: every container the launch creates, in launch order. Optional, like the
# fields above; once present, the other packages read it only when all of it is well-formed
# ("services" in valid), and each thing wrong with it is named here.
valid contains "services" if {
	is_array(input.services)
	count(services_deny) == 0
}

deny contains msg if {
	some msg in services_deny
}

roles := {"service", "holder"}

entry_requirements := {
	"name": "a non-empty string",
	"role": `"service" or "holder"`,
	"main": "a boolean",
	"containerName": "a non-empty string",
	"isolation": "an object",
}

entry_valid(e, "name") if non_empty_string(e.name)

entry_valid(e, "role") if e.role in roles

entry_valid(e, "main") if is_boolean(e.main)

entry_valid(e, "containerName") if non_empty_string(e.containerName)

entry_valid(e, "isolation") if is_object(e.isolation)

services_deny contains "input.services must be an array of the scenario's containers" if {
	has(input, "services")
	not is_array(input.services)
}

services_deny contains concat("", [entry_ref(i), " must be an object"]) if {
	some i, e in entries
	not is_object(e)
}

services_deny contains concat("", [entry_ref(i), ".", field, " must be ", what]) if {
	some i, e in entries
	is_object(e)
	some field, what in entry_requirements
	not entry_valid(e, field)
}

# The main entry's isolation is judged as input.isolation; any other value here would let
# the judged settings and the created container's differ.
services_deny contains concat("", [entry_ref(i), " is the main container, so its isolation must equal input.isolation"]) if {
	some i, e in entries
	e.main == true
	e.isolation != input.isolation
}

services_deny contains concat("", [entry_ref(i), ` is the main container, so its role must be "service"`]) if {
	some i, e in entries
	e.main == true
	e.role != "service"
}

# The other entries' resources are summed and capped, so they must be numbers too. (The
# main entry's are input.isolation's, named above.)
services_deny contains concat("", [entry_ref(i), ".isolation.resources.", key, " must be a non-negative number"]) if {
	some i, e in entries
	e.main == false
	is_object(e.isolation)
	some key in resource_keys
	not resource_valid(e.isolation, key)
}

services_deny contains concat("", [entry_ref(i), ".isolation.runtime must be a non-empty string"]) if {
	some i, e in entries
	e.main == false
	has(e.isolation, "runtime")
	not non_empty_string(e.isolation.runtime)
}

services_deny contains concat("", [entry_ref(i), ".isolation.resources.nproc must be a non-negative number"]) if {
	some i, e in entries
	e.main == false
	has(e.isolation.resources, "nproc")
	not non_negative(e.isolation.resources.nproc)
}

services_deny contains concat("", ["input.services must have exactly one main container (it has ", text.number(n), ")"]) if {
	is_array(input.services)
	n := count([e | some e in entries; e.main == true])
	n != 1
}

services_deny contains concat("", [`input.services must have at most one container of role "holder" (it has `, text.number(n), ")"]) if {
	n := count([e | some e in entries; e.role == "holder"])
	n > 1
}

services_deny contains concat("", ["input.services must name each container once (", text.quote(name), " is used ", text.number(n), " times)"]) if {
	some name in {e.name | some e in entries}
	n := count([e | some e in entries; e.name == name])
	n > 1
}

# Per-entry rules read this rather than input.services, so an object or a string given
# there is named once as not an array, not once per member.
entries := input.services if is_array(input.services)

resource_valid(isolation, key) if non_negative(isolation.resources[key])

entry_ref(i) := concat("", ["input.services[", text.number(i), "]"])
