package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrRemoteTarget is returned for a bootstrap address that is not on this
// machine when remote targets were not allowed.
var ErrRemoteTarget = errors.New("refusing a non-loopback target without --allow-remote")

// resolver looks host names up; net.DefaultResolver satisfies it.
type resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// checkLoopback returns ErrRemoteTarget unless every address resolves only
// to loopback IPs. A name that does not resolve is refused too: the harness
// cannot know where it would connect.
func checkLoopback(ctx context.Context, r resolver, addrs []string) error {
	for _, a := range addrs {
		host, _, err := splitHostPort(a)
		if err != nil {
			return fmt.Errorf("bootstrap %q: %w", a, err)
		}
		if strings.EqualFold(host, "localhost") {
			continue
		}
		if ip := net.ParseIP(host); ip != nil {
			if !ip.IsLoopback() {
				return fmt.Errorf("%w: %s", ErrRemoteTarget, a)
			}
			continue
		}
		ips, err := r.LookupIPAddr(ctx, host)
		if err != nil || len(ips) == 0 {
			return fmt.Errorf("%w: %s does not resolve to a loopback address", ErrRemoteTarget, a)
		}
		for _, ip := range ips {
			if !ip.IP.IsLoopback() {
				return fmt.Errorf("%w: %s resolves to %s", ErrRemoteTarget, a, ip.IP)
			}
		}
	}
	return nil
}
