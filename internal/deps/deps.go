//go:build tools

// Package deps pins the modules the project depends on while packages are being
// written in parallel, so that go.mod stays stable. It is never built.
package deps

import (
	_ "github.com/ThalesGroup/crypto11"
	_ "github.com/chromedp/chromedp"
	_ "github.com/ebfe/scard"
	_ "github.com/getkin/kin-openapi/openapi3filter"
	_ "github.com/go-piv/piv-go/v2/piv"
	_ "github.com/labstack/echo/v4"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/smallstep/pkcs7"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/cryptobyte"
	_ "golang.org/x/image/draw"
	_ "golang.org/x/text/unicode/norm"
	_ "gopkg.in/yaml.v3"
)
