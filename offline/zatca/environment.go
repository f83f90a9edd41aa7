package zatca

import (
	"fmt"
)

// Environment selects which ZATCA deployment the client talks to (SPEC §2.1).
type Environment string

// The environments. Custom is any other server (the simulator, a proxy); its base URL
// comes from Config.BaseURL.
const (
	Sandbox    Environment = "sandbox"
	Simulation Environment = "simulation"
	Production Environment = "production"
	Custom     Environment = "custom"
)

// BaseURL returns the base URL of a ZATCA environment, or "" for Custom.
func (e Environment) BaseURL() string {
	switch e {
	case Sandbox:
		return "https://gw-fatoora.zatca.gov.sa/e-invoicing/developer-portal"
	case Simulation:
		return "https://gw-fatoora.zatca.gov.sa/e-invoicing/simulation"
	case Production:
		return "https://gw-fatoora.zatca.gov.sa/e-invoicing/core"
	}
	return ""
}

// Valid reports whether e is one of the defined environments.
func (e Environment) Valid() bool {
	switch e {
	case Sandbox, Simulation, Production, Custom:
		return true
	}
	return false
}

// ParseEnvironment parses "sandbox", "simulation", "production" or "custom".
func ParseEnvironment(s string) (Environment, error) {
	e := Environment(s)
	if !e.Valid() {
		return "", fmt.Errorf("zatca: unknown environment %q (want sandbox, simulation, production or custom)", s)
	}
	return e, nil
}
