# The containers of one scenario, as the other packages see them: a scenario is a pod of
# services that share one network namespace, owned by a namespace-holder container (like
# Kubernetes' pause container). The main service is input.isolation; input.services lists
# every container the launch creates, the main one included. Older inputs have no
# input.services: their one container is the main one.
#
# input.services is read only once it is well-formed as a whole (shape), so each helper
# here is empty or undefined for an input whose services the shape package refuses.
package arbiter.spawn.pod

import data.arbiter.spawn.shape
import data.arbiter.text

# Whether input.services may be read.
given if "services" in shape.valid

# Whether input.services is there at all, well-formed or not.
listed if shape.has(input, "services")

# Every entry but the main one, whose settings are input.isolation's and judged as such.
others contains e if {
	given
	some e in input.services
	e.main == false
}

services contains e if {
	given
	some e in input.services
	e.role == "service"
}

# At most one, or shape would not have passed input.services.
holder := e if {
	given
	some e in input.services
	e.role == "holder"
}

has_holder if is_object(holder)

# How a reason about a container other than the main one starts.
label(e) := concat("", ["service ", text.quote(e.name), ": "])

# The network mode that joins the holder's namespace.
holder_mode := concat("", ["container:", holder.containerName])

# No network at all: nothing to reach and nothing to be reached from.
network_off(s) if {
	s.networkMode == "none"
	s.networkDisabled == true
}

# The holder owns a namespace with only lo: network mode "none". Its networking is not
# disabled on purpose: only then does the engine write the /etc/hosts (service names to
# 127.0.0.1) that its services share; with mode "none" the namespace has only lo either way.
holder_network_off(s) if s.networkMode == "none"

# Joined to this scenario's holder, which itself has no network: the only interface the
# service then sees is the holder's loopback, shared with its sibling services. Its
# networking is not disabled: the engine gives a container with networking disabled a
# namespace of its own instead of joining it to the holder's (measured).
joins_holder(s) if {
	s.networkMode == holder_mode
	holder_network_off(holder.isolation)
}
