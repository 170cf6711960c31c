# Whether the template may run on this track: it must be a published version (it carries
# the content digest recorded when it was published) listing the track, and it must not
# ask for a network, since scenarios never get one.
package arbiter.spawn.template

import data.arbiter.spawn.shape
import data.arbiter.text

ref := text.quote(concat("@", [input.template.id, input.template.version])) if {
	"template.id" in shape.valid
	"template.version" in shape.valid
} else := "(unnamed)"

digest_pattern := `^(sha256:)?[0-9a-f]{64}$`

deny contains msg if {
	"track" in shape.valid
	"template.tracks" in shape.valid
	not input.track in input.template.tracks
	msg := concat("", ["template ", ref, " is not published for track ", text.quote(input.track)])
}

deny contains msg if {
	"template.digest" in shape.valid
	not regex.match(digest_pattern, input.template.digest)
	msg := concat("", ["template ", ref, " has no published content digest (got ", text.quote(input.template.digest), ")"])
}

deny contains msg if {
	"template.network" in shape.valid
	input.template.network != "none"
	msg := concat("", ["template ", ref, " asks for network ", text.quote(input.template.network), ", but scenarios run without one"])
}
