package envoy

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/racelab/racelab/backends"
)

// The access log and the parser use the driver's header and path prefix
// without importing the backend; this keeps the copies equal.
func TestDriverContract(t *testing.T) {
	assert.Equal(t, backends.RequestIDHeader, requestIDHeader)
	assert.Equal(t, backends.PathPrefix, pathPrefix)
}
