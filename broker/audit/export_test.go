package audit

// AppendEvent exposes appendEvent to the black-box tests.
var AppendEvent = appendEvent
