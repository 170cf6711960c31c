# What the subject's plan allows: its tracks and its resource ceilings, read from
# data.plans (policies/plans/data.json, the one source of plans).
package arbiter.spawn.plan

import data.arbiter.spawn.pod
import data.arbiter.spawn.runtime
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
# path that clamps wrongly, or a zero that Docker reads as "unlimited". The process cap
# is whichever setting the container's runtime enforces (runtime.cap).
applied_keys := ["memoryMb", "cpus", "pids"]

deny contains msg if {
	some key in applied_keys
	applied_valid(key)
	allowed := entry.limits[key]
	limit := applied(input.isolation, key)
	not within(limit.value, allowed)
	msg := concat("", [
		"the container's ", limit.name, " limit is ", text.number(limit.value),
		", outside 1..", text.number(allowed), " for plan ", text.quote(input.plan),
	])
}

# Each other container of the scenario is bounded alike: one without a limit could take
# the whole host whatever its siblings get.
deny contains msg if {
	some e in pod.others
	some key in applied_keys
	allowed := entry.limits[key]
	limit := applied(e.isolation, key)
	not within(limit.value, allowed)
	msg := concat("", [
		pod.label(e), "the container's ", limit.name, " limit is ", text.number(limit.value),
		", outside 1..", text.number(allowed), " for plan ", text.quote(input.plan),
	])
}

# The plan's limits are the scenario's, so its containers share them: several containers
# each within the limit could otherwise take several times what the plan sells.
deny contains msg if {
	pod.given
	n := count(input.services)
	n > 1
	some key in applied_keys
	applied_valid(key)
	allowed := entry.limits[key]
	total := sum([units(applied(e.isolation, key).value) | some e in input.services])
	total > units(allowed)
	msg := concat("", [
		"the scenario's ", text.number(n), " containers together ask for ", key, " ",
		text.number(total / unit), ", above the ", text.number(allowed), " plan ", text.quote(input.plan), " allows",
	])
}

applied(s, "pids") := runtime.cap(s)

applied(s, key) := {"name": key, "value": s.resources[key]} if key != "pids"

applied_valid(key) if {
	key != "pids"
	concat(".", ["isolation.resources", key]) in shape.valid
}

applied_valid("pids") if {
	"isolation.resources.pids" in shape.valid
	"isolation.resources.nproc" in shape.valid
	"isolation.runtime" in shape.valid
}

# Sums are taken in billionths (nano-cpus for cpus), rounded, so that a cpus value with
# binary float noise from the caller (0.30000000000000004) neither tips a sum over the
# ceiling nor shows up in a reason.
unit := 1000000000

units(x) := round(x * unit)

# The runtimes the plan allows. A plan that names none predates the choice and gets the
# engine default only; a value that is not a list grants no more than that.
runtimes := entry.runtimes if is_array(entry.runtimes)

else := ["runc"]

deny contains msg if {
	known
	"template.runtime" in shape.valid
	not runtime.declared in runtimes
	msg := concat("", [
		"plan ", text.quote(input.plan), " allows runtimes ", text.list(runtimes),
		"; template ", template_ref, " asks for ", text.quote(runtime.declared),
	])
}

# A container on another runtime than the template's is refused by the runtime package
# too; this names the plan's part once for all of them.
deny contains msg if {
	known
	refused := {r |
		some c in runtime.containers
		r := runtime.of(c.isolation)
		not r in runtimes
		r != runtime.declared
	}
	count(refused) > 0
	msg := concat("", [
		"plan ", text.quote(input.plan), " allows runtimes ", text.list(runtimes),
		"; the scenario's containers would run on ", text.list(sort(refused)),
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
