// Package deps pins module dependencies that packages under construction
// will import. It is removed once every dependency has a real importer.
package deps

import (
	_ "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/stretchr/testify/require"
	_ "github.com/testcontainers/testcontainers-go"
	_ "golang.org/x/sync/errgroup"
	_ "google.golang.org/protobuf/encoding/protojson"
	_ "gopkg.in/yaml.v3"
)
