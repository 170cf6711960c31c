package arbiter.text_test

import data.arbiter.text

quote_cases := [
	{"in": "intro", "out": `"intro"`},
	{"in": "hello@1", "out": `"hello@1"`},
	{"in": "/var/run/docker.sock", "out": `"/var/run/docker.sock"`},
	{"in": "", "out": `""`},
	{"in": "we\"b", "out": "(a value that cannot be shown)"},
	{"in": "a\nb", "out": "(a value that cannot be shown)"},
	{"in": "a<b>&c", "out": "(a value that cannot be shown)"},
	{"in": "caf\u00e9", "out": "(a value that cannot be shown)"},
	{"in": concat("", [x | some _ in numbers.range(1, 129); x := "a"]), "out": "(a value that cannot be shown)"},
	{"in": 7, "out": "(a value that cannot be shown)"},
	{"in": null, "out": "(a value that cannot be shown)"},
	{"in": ["intro"], "out": "(a value that cannot be shown)"},
]

test_quote[tc["in"]] if {
	some tc in quote_cases
	text.quote(tc.in) == tc.out
}

test_quote_keeps_128_plain_characters if {
	s := concat("", [x | some _ in numbers.range(1, 128); x := "a"])
	text.quote(s) == concat("", [`"`, s, `"`])
}

number_cases := [
	{"in": 128, "out": "128"},
	{"in": 0.5, "out": "0.5"},
	{"in": -1, "out": "-1"},
	{"in": "128", "out": "(not a number)"},
	{"in": null, "out": "(not a number)"},
]

test_number[tc["in"]] if {
	some tc in number_cases
	text.number(tc.in) == tc.out
}

list_cases := [
	{"in": [], "out": ""},
	{"in": ["NET_ADMIN"], "out": `"NET_ADMIN"`},
	{"in": ["NET_ADMIN", "SYS_ADMIN"], "out": `"NET_ADMIN", "SYS_ADMIN"`},
	{"in": ["a\nb", 3], "out": "(a value that cannot be shown), (a value that cannot be shown)"},
	{"in": "NET_ADMIN", "out": "(not a list)"},
	{"in": null, "out": "(not a list)"},
]

test_list[tc["in"]] if {
	some tc in list_cases
	text.list(tc.in) == tc.out
}
