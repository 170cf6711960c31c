# Which OCI runtime each container runs on, and what that runtime means for the rest of
# its settings. A template declares runc (the default) or runsc (gVisor); the launch must
# apply exactly that, and each runtime caps a container's processes its own way.
package arbiter.spawn.runtime

import data.arbiter.spawn.pod
import data.arbiter.spawn.shape
import data.arbiter.spawn.template
import data.arbiter.text

# A container's runtime; absent means the engine's default, runc.
of(s) := object.get(s, "runtime", "runc")

# The runtime the template declares; absent means runc.
declared := input.template.runtime if {
	"template.runtime" in shape.valid
	is_string(input.template.runtime)
} else := "runc" if {
	"template.runtime" in shape.valid
}

nproc(s) := object.get(s.resources, "nproc", 0)

# The setting that caps the container's processes, by name, as the plan's pids ceiling
# applies to it. Under runc it is the cgroup's pids limit: RLIMIT_NPROC would count the
# uid's processes on the whole host. Under runsc the engine refuses --pids-limit on this
# machine's cgroup v1, and gVisor's own kernel counts RLIMIT_NPROC per sandbox (measured:
# two sandboxes of one uid each reach their own cap), so nproc is the cap there.
cap(s) := {"name": "nproc", "value": nproc(s)} if {
	of(s) == "runsc"
} else := {"name": "pids", "value": s.resources.pids}

# The main container (reasons unprefixed, as for every other setting of input.isolation)
# and every other one, each once the fields read here are well-formed.
containers contains {"label": "", "isolation": input.isolation} if {
	is_object(input.isolation)
	"isolation.runtime" in shape.valid
	"isolation.resources.pids" in shape.valid
	"isolation.resources.nproc" in shape.valid
}

containers contains {"label": pod.label(e), "isolation": e.isolation} if {
	some e in pod.others
}

# The template's declaration is what was reviewed and published; a container on another
# runtime would run the scenario under a sandbox nobody asked for (or without one).
deny contains msg if {
	some c in containers
	of(c.isolation) != declared
	msg := concat("", [
		c.label, "the container runs on runtime ", text.quote(of(c.isolation)),
		", but template ", template.ref, " declares ", text.quote(declared),
	])
}

deny contains msg if {
	some c in containers
	of(c.isolation) != "runsc"
	n := nproc(c.isolation)
	n != 0
	msg := concat("", [
		c.label, "the container sets nproc ", text.number(n), " under runtime ", text.quote(of(c.isolation)),
		", where RLIMIT_NPROC counts the uid's processes on the whole host, so one scenario could starve",
		" every other of the same uid; its processes must be capped by the pids limit alone",
	])
}

deny contains msg if {
	some c in containers
	of(c.isolation) == "runsc"
	n := c.isolation.resources.pids
	n != 0
	msg := concat("", [
		c.label, "the container sets a pids limit of ", text.number(n), ` under runtime "runsc", which the engine`,
		" refuses on this host's cgroup v1; its processes must be capped by nproc, which gVisor counts per sandbox",
	])
}

# gVisor gives each sandbox a network stack of its own, so a runsc container joined to a
# holder's namespace does not see the holder's loopback (measured): a pod's services could
# not reach each other.
on_runsc if declared == "runsc"

on_runsc if {
	some c in containers
	of(c.isolation) == "runsc"
}

alone if {
	count(pod.services) <= 1
	not pod.has_holder
}

deny contains msg if {
	on_runsc
	not alone
	msg := concat("", [
		"a scenario on runtime \"runsc\" must have exactly one service and no namespace holder, since gVisor",
		" gives each sandbox its own network stack and services could not share a holder's loopback (it has ",
		pod_size, ")",
	])
}

pod_size := concat("", [services_count, " and a namespace holder"]) if pod.has_holder

else := services_count

services_count := "1 service" if count(pod.services) == 1

else := concat("", [text.number(count(pod.services)), " services"])
