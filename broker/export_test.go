package broker

// ParseForm is parseForm, for FuzzParseForm.
var ParseForm = parseForm
