package tun_test

import (
	"errors"
	"testing"

	"github.com/gonetsh/gonetsh/driver/tun"
)

func TestCreateRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name string
		mtu  int
		want error
	}{
		{"a/b", 1500, tun.ErrName},
		{"0123456789abcdef", 1500, tun.ErrName}, // 16 bytes > IFNAMSIZ-1
		{"has space", 1500, tun.ErrName},
		{"..", 1500, tun.ErrName},
		{"gnok", 67, tun.ErrMTU},
		{"gnok", 65536, tun.ErrMTU},
		{"gnok", -1, tun.ErrMTU},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := tun.Create(tt.name, tt.mtu)
			if dev != nil {
				dev.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Create(%q, %d) error = %v, want %v", tt.name, tt.mtu, err, tt.want)
			}
		})
	}
}
