package arbiter.spawn.template_test

import data.arbiter.spawn.fixtures_test as fx
import data.arbiter.spawn.template

cases := {
	"a published template listing the track is allowed": {
		"input": fx.allowed,
		"deny": set(),
	},
	"a digest with the sha256: prefix is allowed": {
		"input": fx.with_template({"digest": concat("", ["sha256:", fx.digest])}),
		"deny": set(),
	},
	"a template not published for the track is denied": {
		"input": fx.with_patch({"track": "web"}),
		"deny": {`template "hello@1" is not published for track "web"`},
	},
	"a template with no tracks is denied": {
		"input": fx.with_template({"tracks": []}),
		"deny": {`template "hello@1" is not published for track "intro"`},
	},
	"a template without a content digest is denied": {
		"input": fx.with_template({"digest": "unpublished"}),
		"deny": {`template "hello@1" has no published content digest (got "unpublished")`},
	},
	"an upper-case or short digest is denied": {
		"input": fx.with_template({"digest": upper(fx.digest)}),
		"deny": {concat("", [`template "hello@1" has no published content digest (got "`, upper(fx.digest), `")`])},
	},
	"a template asking for a network is denied": {
		"input": fx.with_template({"network": "bridge"}),
		"deny": {`template "hello@1" asks for network "bridge", but scenarios run without one`},
	},
	"every template reason is reported, with an unnamed template": {
		"input": fx.with_patch({"track": "web", "template": {"version": "", "digest": "x", "network": "host"}}),
		"deny": {
			`template (unnamed) is not published for track "web"`,
			`template (unnamed) has no published content digest (got "x")`,
			`template (unnamed) asks for network "host", but scenarios run without one`,
		},
	},
	"malformed fields are left to the shape package": {
		"input": {"track": 1, "template": {"tracks": "intro", "digest": 5, "network": null}},
		"deny": set(),
	},
}

test_deny[name] if {
	some name, tc in cases
	template.deny == tc.deny with input as tc.input
}
