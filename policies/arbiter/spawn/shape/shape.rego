# Which fields of the spawn input are well-formed.
#
# A rule over a missing field is undefined rather than false, so a rule that read a
# malformed field directly would quietly not fire, and an empty deny set means allow.
# The other spawn packages therefore read a field only once it is in `valid`, and every
# field that is not in `valid` yields a reason here: a partial or mistyped input is
# always refused, and the refusal names each field that is wrong.
package arbiter.spawn.shape

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
])

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
