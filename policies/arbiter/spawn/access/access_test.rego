package arbiter.spawn.access_test

import data.arbiter.spawn.access
import data.arbiter.spawn.fixtures_test as fx

test_free_plan_grants_what_its_data_says if {
	access.grants == {"exec": true, "files": true, "terminal": true, "terminalSessions": 1} with input as fx.allowed
}

test_unknown_plan_grants_nothing if {
	access.grants == {"exec": false, "files": false, "terminal": false, "terminalSessions": 0} with input as fx.with_patch({"plan": "gold"})
}

test_plan_without_access_grants_nothing if {
	access.grants == {"exec": false, "files": false, "terminal": false, "terminalSessions": 0} with input as fx.allowed
		with data.plans.free as {"tracks": ["intro"], "limits": {"memoryMb": 128, "cpus": 0.5, "pids": 64, "ttlSeconds": 1800}}
}

test_only_true_grants if {
	g := access.grants with input as fx.allowed
		with data.plans.free.access as {"exec": "yes", "files": 1, "terminal": true, "terminalSessions": 2}
	g == {"exec": false, "files": false, "terminal": true, "terminalSessions": 2}
}

test_terminal_sessions_must_be_a_positive_whole_number if {
	every n in [0, -1, 1.5, "2", null] {
		g := access.grants with input as fx.allowed
			with data.plans.free.access as {"exec": true, "files": true, "terminal": true, "terminalSessions": n}
		g.terminalSessions == 0
	}
}

test_no_terminal_means_no_sessions if {
	g := access.grants with input as fx.allowed
		with data.plans.free.access as {"exec": true, "files": true, "terminal": false, "terminalSessions": 3}
	g.terminalSessions == 0
}

test_decision_carries_the_grants if {
	d := data.arbiter.spawn.decision with input as fx.allowed
	d.access == {"exec": true, "files": true, "terminal": true, "terminalSessions": 1}
}

test_a_kind_the_plan_does_not_name_is_not_granted if {
	# The whole plan is replaced: `with` on a path inside a data file's object merges into it.
	g := access.grants with input as fx.allowed
		with data.plans.free as {"tracks": ["intro"], "limits": {"memoryMb": 128, "cpus": 0.5, "pids": 64, "ttlSeconds": 1800}, "access": {"exec": true}}
	g == {"exec": true, "files": false, "terminal": false, "terminalSessions": 0}
}
