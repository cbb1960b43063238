package proxyconf

// memFS is the tests' name for MemFS.
type memFS = MemFS
