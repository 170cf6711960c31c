# What the subject's plan allows: its tracks and its resource ceilings, read from
# data.plans (policies/plans/data.json, the one source of plans).
package arbiter.spawn.plan

import data.arbiter.spawn.shape
import data.arbiter.text

# The plan's entry, when the plan is known.
entry := data.plans[input.plan] if is_object(data.plans[input.plan])

known if is_object(entry)

template_ref := text.quote(concat("@", [input.template.id, input.template.version])) if {
	"template.id" in shape.valid
	"template.version" in shape.valid
} else := "(unnamed)"

deny contains concat("", ["unknown plan ", text.quote(input.plan)]) if {
	"plan" in shape.valid
	not known
}

# Only once the plan is known: for an unknown plan this would repeat the reason above.
deny contains msg if {
	"track" in shape.valid
	tracks := entry.tracks
	not input.track in tracks
	msg := concat("", ["track ", text.quote(input.track), " is not in plan ", text.quote(input.plan)])
}

# What the template asks for may not exceed what the plan grants.
deny contains msg if {
	some key in shape.limit_keys
	concat(".", ["template.limits", key]) in shape.valid
	allowed := entry.limits[key]
	requested := input.template.limits[key]
	requested > allowed
	msg := concat("", [
		"template ", template_ref, " requests ", key, " ", text.number(requested),
		", above the ", text.number(allowed), " plan ", text.quote(input.plan), " allows",
	])
}

# And neither may what is about to be applied to the container: this catches a launch
# path that clamps wrongly, or a zero that Docker reads as "unlimited".
applied_keys := ["memoryMb", "cpus", "pids"]

deny contains msg if {
	some key in applied_keys
	concat(".", ["isolation.resources", key]) in shape.valid
	allowed := entry.limits[key]
	applied := input.isolation.resources[key]
	not within(applied, allowed)
	msg := concat("", [
		"the container's ", key, " limit is ", text.number(applied),
		", outside 1..", text.number(allowed), " for plan ", text.quote(input.plan),
	])
}

# A plan entry without a ceiling must not read as "no ceiling".
deny contains msg if {
	known
	some key in shape.limit_keys
	not sets_limit(key)
	msg := concat("", ["plan ", text.quote(input.plan), " sets no ", key, " limit"])
}

# A helper, not an inline `not is_number(...)`: OPA evaluates a call's arguments outside
# the negation, so a missing limit would make that whole rule undefined instead of true.
sets_limit(key) if is_number(entry.limits[key])

within(value, ceiling) if {
	value > 0
	value <= ceiling
}
