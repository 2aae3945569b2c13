package keyhold

import (
	"encoding/json"
	"fmt"
	"runtime"
)

// Config is an engine's effective configuration (docs/configuration.md):
// every setting with its value and where that value came from. It holds no
// secret.
type Config struct {
	File     string    `json:"file"` // the KEYHOLD_CONFIG file read, "" if none
	Settings []Setting `json:"settings"`
}

// Setting is one configuration knob.
type Setting struct {
	Key    string          `json:"key"`    // "table.key" in the config file, such as "policy.enabled"
	Env    string          `json:"env"`    // its environment variable, such as "KEYHOLD_POLICY_ENABLED"
	Value  json.RawMessage `json:"value"`  // the effective value, as JSON
	Source string          `json:"source"` // "default", "file" or "env"
}

// Config returns the configuration the engine opened with.
func (e *Engine) Config() (Config, error) {
	const op = "engine.config"
	if err := e.check(op); err != nil {
		return Config{}, err
	}
	b, st := e.be.EngineConfig(e.h)
	runtime.KeepAlive(e)
	if err := newError(op, st); err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("keyhold: %s: %w", op, err)
	}
	return c, nil
}

// Lookup returns the setting with the given key ("policy.enabled").
func (c Config) Lookup(key string) (Setting, bool) {
	for _, s := range c.Settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

func (c Config) count(source string) int {
	n := 0
	for _, s := range c.Settings {
		if s.Source == source {
			n++
		}
	}
	return n
}
