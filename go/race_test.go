//go:build race

package keyhold

const raceEnabled = true
