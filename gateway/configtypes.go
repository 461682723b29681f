package gateway

import "github.com/almanet/gateway/config"

// The gateway is configured by package config; these names keep the
// gateway's own code and its callers reading as before.
type (
	Config           = config.Config
	Member           = config.Member
	CacheConfig      = config.CacheConfig
	UpstreamConfig   = config.UpstreamConfig
	BreakerConfig    = config.BreakerConfig
	LimitsConfig     = config.LimitsConfig
	Duration         = config.Duration
	EdgeLimits       = config.EdgeLimits
	FederationConfig = config.FederationConfig
	FanOutConfig     = config.FanOutConfig
	TargetConfig     = config.TargetConfig
	ZTargetFields    = config.ZTargetFields
	LogConfig        = config.LogConfig
	StaffEntry       = config.StaffEntry
	DashboardConfig  = config.DashboardConfig
	WritesConfig     = config.WritesConfig
	Z3950Config      = config.Z3950Config
)

// NZTarget is the network zone's target name (config.NZTarget).
const NZTarget = config.NZTarget
