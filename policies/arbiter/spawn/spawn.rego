# Pre-launch gate for scenario spawns. Every rule that can refuse a spawn adds a
# human-readable reason to `deny`, so a refusal always explains all of its causes
# at once instead of stopping at the first one.
package arbiter.spawn

default allow := false

allow if count(deny) == 0

plan := data.plans[input.plan]

# A rule over a missing field is undefined, not false, and so is `not f(x)` when
# x is undefined (OPA evaluates call arguments outside the negation). Checking
# fields by negating membership in a positive set avoids both, so an empty,
# non-object or partial input yields deny reasons instead of an empty deny set
# (which would mean allow).
valid_fields contains "plan" if non_empty_string(input.plan)

valid_fields contains "track" if non_empty_string(input.track)

valid_fields contains "template.id" if non_empty_string(input.template.id)

valid_fields contains "template.version" if non_empty_string(input.template.version)

valid_fields contains "template.tracks" if string_array(input.template.tracks)

deny contains concat("", ["input.", field, " must be a non-empty string"]) if {
	some field in ["plan", "track", "template.id", "template.version"]
	not field in valid_fields
}

deny contains "input.template.tracks must be an array of strings" if {
	not "template.tracks" in valid_fields
}

deny contains msg if {
	"plan" in valid_fields
	not data.plans[input.plan]
	msg := concat("", ["unknown plan ", quote(input.plan)])
}

# Only reachable once the plan is known: for an unknown plan, "track is not in
# plan" would just repeat the unknown-plan reason.
deny contains msg if {
	"track" in valid_fields
	not input.track in plan.tracks
	msg := concat("", ["track ", quote(input.track), " is not in plan ", quote(input.plan)])
}

deny contains msg if {
	"track" in valid_fields
	"template.tracks" in valid_fields
	not input.track in input.template.tracks
	ref := concat("@", [input.template.id, input.template.version])
	msg := concat("", ["template ", quote(ref), " is not published for track ", quote(input.track)])
}

# Messages are built with concat rather than sprintf: in the Wasm build sprintf is
# a JavaScript shim without %q, so a sprintf message that passes `opa test` can
# fail at runtime. json.marshal quotes and escapes the value, so a track or plan
# name cannot smuggle quotes or newlines into a reason. (OPA's Go evaluator also
# escapes <, > and & as \u003c etc.; the Wasm build leaves them as-is, so only
# names containing those characters read differently between the two.)
quote(s) := json.marshal(s)

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

# The single entrypoint the TypeScript side evaluates. Reasons are sorted so that
# identical inputs always record byte-identical decisions.
decision := {"allow": allow, "reasons": sort(deny)}
