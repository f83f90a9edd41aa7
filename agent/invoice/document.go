package invoice

import "github.com/shopspring/decimal"

// DocType is the UBL invoice type code (BT-3, BR-KSA-05).
type DocType string

// Document types a cash register issues.
const (
	TypeInvoice    DocType = "388" // simplified tax invoice
	TypeCreditNote DocType = "381" // credit note of a simplified tax invoice
	TypeDebitNote  DocType = "383" // debit note of a simplified tax invoice
)

// IsNote reports whether t is a credit or debit note (BR-KSA-17, BR-KSA-56).
func (t DocType) IsNote() bool { return t == TypeCreditNote || t == TypeDebitNote }

// Fixed codes of every document this package computes.
const (
	CurrencySAR = "SAR" // DocumentCurrencyCode and TaxCurrencyCode (BR-KSA-68, BR-KSA-EN16931-02)
	CountrySA   = "SA"  // seller country (BR-KSA-09)
	UnitPiece   = "PCE" // InvoicedQuantity/@unitCode (UN/ECE Rec 20)
)

// TransactionFlags are the P, N and S flags of the KSA-2 transaction code
// (InvoiceTypeCode/@name, SPEC §3.1 item 7). E and B are always 0 for
// simplified documents (BR-KSA-31).
type TransactionFlags struct {
	ThirdParty bool // P
	Nominal    bool // N
	Summary    bool // S (BR-KSA-71, BR-KSA-72)
}

// Code renders the 7-character KSA-2 code of a simplified document,
// "0200000" for a plain sale.
func (f TransactionFlags) Code() string {
	b := []byte("0200000")
	if f.ThirdParty {
		b[2] = '1'
	}
	if f.Nominal {
		b[3] = '1'
	}
	if f.Summary {
		b[5] = '1'
	}
	return string(b)
}

// Document is a validated sale with every amount computed and rounded per
// ZATCA (SPEC §3.2), ready to be written as UBL: the XML writer only
// formats it. UUID, ICV, PIH and issue time are not part of it; the
// pipeline assigns them.
type Document struct {
	Type DocType
	// TransactionCode is Flags.Code(), the InvoiceTypeCode/@name.
	TransactionCode string
	Flags           TransactionFlags
	// RefNumber is the POS's invoice reference number (cbc:ID); empty when
	// the POS gave none and the pipeline numbers the document.
	RefNumber string
	// Currency is both the document and the tax currency: always "SAR".
	Currency string
	// PaymentMeans is the UNTDID 4461 code: "10", "30", "42", "48" or "1".
	PaymentMeans string
	// SupplyDate (KSA-5, Delivery/ActualDeliveryDate) and SupplyEndDate
	// (KSA-24, Delivery/LatestDeliveryDate) as YYYY-MM-DD; empty when absent.
	SupplyDate    string
	SupplyEndDate string
	// BillingReference is the original invoice number(s) a note corrects
	// (BillingReference/InvoiceDocumentReference/ID); notes only.
	BillingReference string
	// NoteReason is the reason for issuing a note (KSA-10,
	// PaymentMeans/InstructionNote); notes only.
	NoteReason string

	Seller Party
	// Buyer is nil for an anonymous sale: AccountingCustomerParty is then
	// written empty.
	Buyer *Party

	Lines []Line
	// Subtotals holds one entry per VAT category and rate, in first-use
	// order of the lines (the TaxTotal with TaxSubtotal elements).
	Subtotals []TaxSubtotal
	Totals    Totals
}

// Party is a seller or buyer as UBL needs it.
type Party struct {
	// RegistrationName is PartyLegalEntity/RegistrationName, Arabic first
	// with an optional " | English" part; for the seller it is QR tag 1.
	RegistrationName string
	// VATNumber is PartyTaxScheme/CompanyID (15 digits, 3…3); may be empty
	// for a buyer.
	VATNumber string
	// OtherID is PartyIdentification/ID with its schemeID (seller: CRN, MOM,
	// MLS, SAG, OTH, 700; buyer: also TIN, NAT, GCC, IQA); nil when absent.
	OtherID *PartyID
	Address Address
}

// PartyID is an identifier with its scheme, e.g. {Scheme: "CRN", Value: "1010010000"}.
type PartyID struct {
	Scheme string
	Value  string
}

// Address is a PostalAddress in UBL element order. Empty fields are omitted.
type Address struct {
	Street           string // StreetName
	AdditionalStreet string // AdditionalStreetName
	Building         string // BuildingNumber, 4 digits for the seller (BR-KSA-37)
	Plot             string // PlotIdentification, the additional number
	District         string // CitySubdivisionName
	City             string // CityName
	PostalZone       string // PostalZone, 5 digits for the seller (BR-KSA-66)
	Country          string // Country/IdentificationCode, "SA" for the seller
}

// IsZero reports whether no address field is set.
func (a Address) IsZero() bool { return a == Address{} }

// TaxCategory is a VAT category with its rate and, for Z/E/O, the exemption
// reason (ClassifiedTaxCategory on lines, TaxCategory in subtotals).
type TaxCategory struct {
	ID string // S, Z, E or O (BR-KSA-18)
	// Percent is the rate as a percentage: 15, 5 or 0 (BR-KSA-84).
	Percent decimal.Decimal
	// ExemptionCode (VATEX-SA-*) and ExemptionReason are set for Z, E and O
	// only (BR-KSA-CL-04, BR-KSA-69/23/24, BR-KSA-83).
	ExemptionCode   string
	ExemptionReason string
}

// Line is one InvoiceLine. Money is rounded to 2 decimals; quantity and
// price are exact.
type Line struct {
	ID string // "1", "2", … (BR-21)
	// Name is Item/Name: NameAr, plus " | " NameEn when an English name is given.
	Name   string
	NameAr string
	NameEn string

	Quantity decimal.Decimal // InvoicedQuantity, > 0, exact (write it with String())
	UnitCode string          // InvoicedQuantity/@unitCode
	// Price is the VAT-exclusive item net price (Price/PriceAmount) for
	// BaseQuantity units (one unit when BaseQuantity is nil). It is not
	// rounded to 2 decimals: write it with Price.String(). For a
	// tax-exclusive line it is the POS price as sent; for a VAT-inclusive
	// line it is derived so that round(Quantity × Price / BaseQuantity, 2)
	// − Σ Discounts = Net exactly (see Compute).
	Price decimal.Decimal
	// BaseQuantity is Price/BaseQuantity (same unit code as the quantity);
	// nil when the element is omitted.
	BaseQuantity *decimal.Decimal
	// Discounts are line-level allowances (InvoiceLine/AllowanceCharge with
	// ChargeIndicator false), VAT-exclusive, 2 decimals.
	Discounts []Discount
	// InclusivePrice is the VAT-inclusive shelf price the POS sent, for the
	// receipt; nil when the POS sent a VAT-exclusive price.
	InclusivePrice *decimal.Decimal

	Tax TaxCategory
	// Net is LineExtensionAmount = round(Quantity × Price / BaseQuantity, 2) − Σ Discounts.
	Net decimal.Decimal
	// VAT is the line TaxTotal/TaxAmount (KSA-11).
	VAT decimal.Decimal
	// Total is TaxTotal/RoundingAmount (KSA-12) = Net + VAT (BR-KSA-51).
	Total decimal.Decimal
}

// Discount is a line allowance: amount (VAT-exclusive, 2 decimals) and reason.
type Discount struct {
	Amount decimal.Decimal
	Reason string
}

// TaxSubtotal is one TaxSubtotal of the document TaxTotal.
type TaxSubtotal struct {
	Category TaxCategory
	Taxable  decimal.Decimal // TaxableAmount = Σ line nets of the category
	// Tax is TaxAmount: round(Taxable × Percent / 100, 2) over the
	// VAT-exclusive lines, plus the VAT of the VAT-inclusive lines (their
	// shelf price minus net), so a shelf-priced sale totals the shelf prices
	// (within BR-CO-17's tolerance of lines × 0.01).
	Tax decimal.Decimal
}

// Totals is LegalMonetaryTotal plus the document VAT total. All amounts are
// positive and rounded to 2 decimals.
type Totals struct {
	LineExtension decimal.Decimal // Σ line nets (BR-CO-10)
	// AllowanceTotal is the document-level allowance total; nil when the
	// document has no document-level allowance (the element is omitted).
	AllowanceTotal *decimal.Decimal
	TaxExclusive   decimal.Decimal // LineExtension − AllowanceTotal (BR-CO-13)
	Tax            decimal.Decimal // Σ subtotal taxes (BR-CO-14), both TaxTotal/TaxAmount
	TaxInclusive   decimal.Decimal // TaxExclusive + Tax (BR-CO-15)
	Payable        decimal.Decimal // = TaxInclusive: no prepaid, no rounding amount (BR-CO-16)
}

// Amount formats a money amount with exactly 2 decimals, as UBL and the QR
// code write it ("231.15", "0.00").
func Amount(d decimal.Decimal) string { return d.StringFixed(2) }

// Percent formats a VAT rate with 2 decimals ("15.00").
func Percent(d decimal.Decimal) string { return d.StringFixed(2) }
