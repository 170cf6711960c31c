# What a subject may do inside a running scenario (CONTRACT "Subject access"): run commands,
# move files, open terminals, and how many terminals at once. The plan grants it; the grant is
# part of the decision, so the verdict records what the subject was allowed to do, and the API
# enforces exactly what was recorded. A plan that says nothing grants nothing.
package arbiter.spawn.access

import data.arbiter.spawn.plan

default grants := {"exec": false, "files": false, "terminal": false, "terminalSessions": 0}

grants := {
	"exec": granted("exec"),
	"files": granted("files"),
	"terminal": granted("terminal"),
	"terminalSessions": sessions,
} if is_object(plan.entry.access)

granted(kind) := plan.entry.access[kind] == true

default granted(_) := false

# Terminals are granted only with a positive whole number of sessions; anything else is none.
default sessions := 0

sessions := n if {
	granted("terminal")
	n := plan.entry.access.terminalSessions
	is_number(n)
	n >= 1
	n == floor(n)
}
