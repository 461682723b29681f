package config

import "testing"

const staffToken = "staff-token-for-member-a-0001"

func TestStaffConfigValidation(t *testing.T) {
	base := func() Config {
		c := Config{SRUURL: "http://127.0.0.1:1/view/sru/X", AdminToken: "admin-token-admin-token", Members: []Member{{Code: "A"}}}
		c.ApplyDefaults()
		return c
	}
	tests := []struct {
		name  string
		staff []StaffEntry
		env   map[string]string
		want  string
	}{
		{"fine", []StaffEntry{{Name: "desk", Institution: "A", TokenEnv: "T"}}, map[string]string{"T": staffToken}, ""},
		{"all members", []StaffEntry{{Name: "office", Institution: "*", TokenEnv: "T"}}, map[string]string{"T": staffToken}, ""},
		{"no name", []StaffEntry{{TokenEnv: "T"}}, map[string]string{"T": staffToken}, "config: staff[0].name is required"},
		{"reserved name", []StaffEntry{{Name: "admin", TokenEnv: "T"}}, map[string]string{"T": staffToken}, `config: staff[0].name "admin" is used twice (or is the reserved name admin)`},
		{"no token_env", []StaffEntry{{Name: "desk"}}, nil, "config: staff[0].token_env is required (the variable that holds the token)"},
		{"unset token", []StaffEntry{{Name: "desk", TokenEnv: "T"}}, nil, "config: staff[0].token_env: T is unset or empty"},
		{"short token", []StaffEntry{{Name: "desk", TokenEnv: "T"}}, map[string]string{"T": "short"}, "config: staff[0].token_env: T must hold at least 16 characters"},
		{"unknown member", []StaffEntry{{Name: "desk", Institution: "B", TokenEnv: "T"}}, map[string]string{"T": staffToken}, `config: staff[0].institution "B" is not a member code (or * for all)`},
		{"token shared", []StaffEntry{{Name: "desk", TokenEnv: "T"}, {Name: "office", TokenEnv: "U"}}, map[string]string{"T": staffToken, "U": staffToken}, "config: staff[1].token_env: U holds the same token as T"},
		{"admin's token", []StaffEntry{{Name: "desk", TokenEnv: "T"}}, map[string]string{"T": "admin-token-admin-token"}, "config: staff[0].token_env: T holds the same token as GATEWAY_ADMIN_TOKEN"},
		{"short session key", nil, map[string]string{"GATEWAY_SESSION_KEY": "short"}, "config: GATEWAY_SESSION_KEY must be at least 32 characters (every replica must share it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			c.Staff = tt.staff
			c.applyStaffEnv(func(k string) string { return tt.env[k] })
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
