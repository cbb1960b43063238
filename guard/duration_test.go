package guard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "65s", want: 65 * time.Second},
		{in: "65000ms", want: 65 * time.Second},
		{in: "1m5s", want: 65 * time.Second},
		{in: "0.5s", want: 500 * time.Millisecond},
		{in: " 60s ", want: 60 * time.Second},
		{in: "0s", want: 0},
		// Unit traps: a bare number is never guessed.
		{in: "60", err: "bare number has no unit; write 60s or 60ms"},
		{in: "60000", err: "bare number has no unit"},
		{in: "0", err: "bare number has no unit"},
		{in: "1.5", err: "bare number has no unit"},
		{in: "-5s", err: "negative"},
		{in: "+5s", err: "unexpected sign"},
		{in: "", err: "empty duration"},
		{in: "60sec", err: "want a number with a unit"},
		{in: "1d", err: "want a number with a unit"},
		{in: "abc", err: "want a number with a unit"},
		{in: "876000h1s", err: "longer than a century"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseValue(t *testing.T) {
	v, err := ParseValue("65s", "--backend-keepalive")
	require.NoError(t, err)
	assert.Equal(t, StateFinite, v.State)
	assert.Equal(t, 65*time.Second, v.Duration)

	v, err = ParseValue("off", "--proxy-idle")
	require.NoError(t, err)
	assert.Equal(t, StateOff, v.State)

	v, err = ParseValue("unbounded", "--proxy-idle")
	require.NoError(t, err)
	assert.Equal(t, StateUnbounded, v.State)

	_, err = ParseValue("0s", "--proxy-idle")
	require.ErrorContains(t, err, "zero is ambiguous")
	_, err = ParseValue("75", "--backend-keepalive")
	require.ErrorContains(t, err, "bare number")
}

func TestParseNginxTime(t *testing.T) {
	tests := []struct {
		in   string
		msec bool
		want time.Duration
		err  string
	}{
		{in: "60", msec: true, want: 60 * time.Second}, // nginx: bare number is seconds
		{in: "60s", msec: true, want: 60 * time.Second},
		{in: "60000ms", msec: true, want: 60 * time.Second},
		{in: "1m", msec: true, want: time.Minute},
		{in: "1m 30s", msec: true, want: 90 * time.Second},
		{in: "1m30s", msec: true, want: 90 * time.Second},
		{in: "1h30m500ms", msec: true, want: 90*time.Minute + 500*time.Millisecond},
		{in: "1m30", msec: true, want: 90 * time.Second},
		{in: "1d", msec: true, want: 24 * time.Hour},
		{in: "1y", msec: false, want: 365 * 24 * time.Hour},
		{in: "0", msec: true, want: 0},
		{in: "500ms", msec: false, err: "whole seconds"},
		{in: "1y", msec: true, err: "millisecond directive"},
		{in: "30s 1m", msec: true, err: "units must decrease"},
		{in: "1s1s", msec: true, err: "units must decrease"},
		{in: "60sec", msec: true, err: "unknown unit"},
		{in: "60S", msec: true, err: "unknown unit"},
		{in: "-5s", msec: true, err: "expected a number"},
		{in: "5 1", msec: true, err: "bare number must come last"},
		{in: "", msec: true, err: "empty"},
		{in: "99999999999999999999", msec: true, err: "too large"},
		{in: "999999999999d", msec: true, err: "longer than a century"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseNginxTime(tt.in, tt.msec)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseHAProxyTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "5000", want: 5 * time.Second}, // HAProxy: bare number is milliseconds
		{in: "5s", want: 5 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "2m", want: 2 * time.Minute},
		{in: "1h", want: time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "1500us", want: 1500 * time.Microsecond},
		{in: "5sec", err: "unknown unit"},
		{in: "1m30s", err: "unknown unit"},
		{in: "s", err: "want a whole number"},
		{in: "-1", err: "want a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseHAProxyTime(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseApacheTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "5", want: 5 * time.Second}, // Apache: bare number is seconds
		{in: "65s", want: 65 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "500MS", want: 500 * time.Millisecond},
		{in: "2mi", want: 2 * time.Minute},
		{in: "1h", want: time.Hour},
		{in: "2m", err: "unknown unit"}, // Apache spells minutes "mi"
		{in: "1.5", err: "unknown unit"},
		{in: "ms", err: "want a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseApacheTimeout(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseProtoDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "60s", want: 60 * time.Second},
		{in: "0.5s", want: 500 * time.Millisecond},
		{in: "1.000000001s", want: time.Second + time.Nanosecond},
		{in: "0s", want: 0},
		{in: "60", err: "s suffix"},
		{in: "60ms", err: "is not a whole number"},
		{in: "1m", err: "s suffix"},
		{in: ".5s", err: "nine decimals"},
		{in: "1.s", err: "nine decimals"},
		{in: "1.0000000001s", err: "nine decimals"},
		{in: "-1s", err: "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseProtoDuration(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormatMS(t *testing.T) {
	assert.Equal(t, "65000ms", FormatMS(65*time.Second))
	assert.Equal(t, "0.5ms", FormatMS(500*time.Microsecond))
	assert.Equal(t, "0ms", FormatMS(0))
	assert.Equal(t, "-1500ms", FormatMS(-1500*time.Millisecond))
}
