//go:build tools

// Package deps pins dependencies until real code imports them. Remove once unused.
package deps

import (
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/gocarina/gocsv"
	_ "github.com/hibiken/asynq"
	_ "github.com/nyaruka/phonenumbers"
	_ "github.com/redis/go-redis/v9"
	_ "golang.org/x/oauth2/clientcredentials"
	_ "golang.org/x/time/rate"
)
