package gateway

import "github.com/almanet/gateway/search"

// The registry of targets, the targets and their wrappers and the fan-out
// live in package search; these names keep the gateway's handlers reading
// as before.
type (
	Registry       = search.Registry
	RegTarget      = search.RegTarget
	Target         = search.Target
	TargetQuery    = search.TargetQuery
	TargetPage     = search.TargetPage
	TargetRecord   = search.TargetRecord
	TargetState    = search.TargetState
	Federation     = search.Federation
	Result         = search.Result
	MergedInfo     = search.MergedInfo
	IZOwners       = search.IZOwners
	JSONDiagnostic = search.JSONDiagnostic
)

// ParseMemo is search.ParseMemo.
type ParseMemo[T any] = search.ParseMemo[T]

// KindAlma is search.KindAlma: a target that is an Alma SRU endpoint.
const KindAlma = search.KindAlma
