package probe

// WithProgressEvery is withProgressEvery for the external tests.
var WithProgressEvery = withProgressEvery
