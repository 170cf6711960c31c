# How caller-supplied values appear inside deny reasons.
#
# Reasons are recorded in history, evidence and API answers, and the same decision must
# read byte-for-byte the same from the Wasm build and from an OPA server. json.marshal
# escapes differently in the two (Go escapes <, > and & as \u003c..., Wasm does not), and
# regex.replace does not exist in Wasm, so a value is echoed only when it is short and
# made of characters both quote identically; anything else is named by a placeholder.
# That also keeps a hostile 80 MB track name or a newline out of every reason.
package arbiter.text

plain := `^[A-Za-z0-9 ._:@/+=,~-]*$`

quote(s) := concat("", [`"`, s, `"`]) if {
	is_string(s)
	count(s) <= 128
	regex.match(plain, s)
} else := "(a value that cannot be shown)"

# Numbers reach both engines through the same JSON.stringify, and both print them in
# their shortest round-trip form, so json.marshal agrees for them.
number(n) := json.marshal(n) if is_number(n)

else := "(not a number)"

# A list of values, each quoted, or a placeholder when it is not a list.
list(xs) := concat(", ", [quote(x) | some x in xs]) if is_array(xs)

else := "(not a list)"
