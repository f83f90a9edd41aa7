package invoice

// MaxSellerSize caps a seller profile body.
const MaxSellerSize = 64 << 10

// Seller is the taxpayer profile of this terminal, with the field names of
// the Fatoora onboarding form.
type Seller struct {
	// VATName is the registered name, Arabic first with an optional
	// " | English" part, e.g. "شركة … | Company …" (RegistrationName, QR tag 1).
	VATName   string `json:"vat_name"`
	VATNumber string `json:"vat_number"` // 15 digits, first and last 3 (BR-KSA-40)
	CRN       string `json:"crn"`        // commercial registration number, alphanumeric (BR-KSA-08)
	Street    string `json:"street"`
	Building  string `json:"building"` // 4 digits (BR-KSA-37)
	Plot      string `json:"plot"`     // additional number, 4 digits when given (BR-KSA-64)
	// CitySubdiv is the district (CitySubdivisionName).
	CitySubdiv string `json:"city_subdiv"`
	City       string `json:"city"`
	Postal     string `json:"postal"` // 5 digits (BR-KSA-66)
	// BranchName and BranchIndustry are not written into documents; the CSR
	// carries them (OU and businessCategory).
	BranchName     string `json:"branch_name"`
	BranchIndustry string `json:"branch_industry"`
}

var sellerFields = []string{"vat_name", "vat_number", "crn", "street", "building", "plot",
	"city_subdiv", "city", "postal", "branch_name", "branch_industry"}

// DecodeSeller parses and validates a seller profile strictly (unknown
// fields, duplicate keys, wrong types and trailing data are refused).
// Failures are a *ValidationError.
func DecodeSeller(data []byte) (*Seller, error) {
	root, err := parseJSON(data, MaxSellerSize)
	if err != nil {
		return nil, err
	}
	var w walker
	if !w.object(root, "", sellerFields...) {
		return nil, w.e.err()
	}
	s := &Seller{}
	s.VATName, _ = w.text(root, "", "vat_name")
	s.VATNumber, _ = w.code(root, "", "vat_number")
	s.CRN, _ = w.code(root, "", "crn")
	s.Street, _ = w.text(root, "", "street")
	s.Building, _ = w.code(root, "", "building")
	s.Plot, _ = w.code(root, "", "plot")
	s.CitySubdiv, _ = w.text(root, "", "city_subdiv")
	s.City, _ = w.text(root, "", "city")
	s.Postal, _ = w.code(root, "", "postal")
	s.BranchName, _ = w.text(root, "", "branch_name")
	s.BranchIndustry, _ = w.text(root, "", "branch_industry")
	if err := w.e.err(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks the profile against the seller rules of a simplified
// document and returns a *ValidationError naming every failing field.
func (s *Seller) Validate() error {
	var e errs
	s.validate(&e, "")
	return e.err()
}

func (s *Seller) validate(e *errs, prefix string) {
	f := func(name string) string { return join(prefix, name) }
	requireText(e, f("vat_name"), s.VATName, "BR-06", "seller name is required", 1000, "BR-KSA-F-06-C10")
	switch {
	case s.VATNumber == "":
		e.add(f("vat_number"), "BR-KSA-39", "seller VAT registration number is required")
	case !isVATNumber(s.VATNumber):
		e.add(f("vat_number"), "BR-KSA-40", "seller VAT number must be 15 digits, the first and the last being 3")
	}
	switch {
	case s.CRN == "":
		e.add(f("crn"), "BR-KSA-08", "seller identification (CRN) is required")
	case !isAlnum(s.CRN):
		e.add(f("crn"), "BR-KSA-08", "seller identification (CRN) must contain only letters and digits")
	case len(s.CRN) > 127:
		e.add(f("crn"), "BR-KSA-08", "seller identification (CRN) is longer than 127 characters")
	}
	requireText(e, f("street"), s.Street, "BR-KSA-09", "seller street is required", 1000, "BR-KSA-F-06-C4")
	if !isDigits(s.Building, 4) {
		e.add(f("building"), "BR-KSA-37", "seller building number must be 4 digits")
	}
	if s.Plot != "" && !isDigits(s.Plot, 4) {
		e.add(f("plot"), "BR-KSA-64", "seller additional number (plot) must be 4 digits")
	}
	requireText(e, f("city_subdiv"), s.CitySubdiv, "BR-KSA-09", "seller district is required", 127, "BR-KSA-F-06-C9")
	requireText(e, f("city"), s.City, "BR-KSA-09", "seller city is required", 127, "BR-KSA-F-06-C7")
	if !isDigits(s.Postal, 5) {
		e.add(f("postal"), "BR-KSA-66", "seller postal code must be 5 digits")
	}
	optionalText(e, f("branch_name"), s.BranchName, 127)
	optionalText(e, f("branch_industry"), s.BranchIndustry, 127)
}

// party returns the seller as UBL's AccountingSupplierParty.
func (s *Seller) party() Party {
	return Party{
		RegistrationName: s.VATName,
		VATNumber:        s.VATNumber,
		OtherID:          &PartyID{Scheme: "CRN", Value: s.CRN},
		Address: Address{
			Street:     s.Street,
			Building:   s.Building,
			Plot:       s.Plot,
			District:   s.CitySubdiv,
			City:       s.City,
			PostalZone: s.Postal,
			Country:    CountrySA,
		},
	}
}
