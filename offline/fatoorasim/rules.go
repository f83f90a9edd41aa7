package fatoorasim

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/shopspring/decimal"
)

// Namespaces of the UBL document.
const (
	nsInvoice = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
	nsCAC     = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
	nsCBC     = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
	nsEXT     = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
)

// initialPIH is base64(hex(SHA-256("0"))), the PIH of an EGS's first document.
const initialPIH = "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ=="

// invoiceSequence is the XSD sequence of Invoice's children (UBL-Invoice-2.1.xsd),
// with whether each may repeat and whether it is required.
var invoiceSequence = []struct {
	ns, local string
	many      bool
	required  bool
}{
	{nsEXT, "UBLExtensions", false, false},
	{nsCBC, "UBLVersionID", false, false},
	{nsCBC, "CustomizationID", false, false},
	{nsCBC, "ProfileID", false, false},
	{nsCBC, "ProfileExecutionID", false, false},
	{nsCBC, "ID", false, true},
	{nsCBC, "CopyIndicator", false, false},
	{nsCBC, "UUID", false, false},
	{nsCBC, "IssueDate", false, true},
	{nsCBC, "IssueTime", false, false},
	{nsCBC, "DueDate", false, false},
	{nsCBC, "InvoiceTypeCode", false, false},
	{nsCBC, "Note", true, false},
	{nsCBC, "TaxPointDate", false, false},
	{nsCBC, "DocumentCurrencyCode", false, false},
	{nsCBC, "TaxCurrencyCode", false, false},
	{nsCBC, "PricingCurrencyCode", false, false},
	{nsCBC, "PaymentCurrencyCode", false, false},
	{nsCBC, "PaymentAlternativeCurrencyCode", false, false},
	{nsCBC, "AccountingCostCode", false, false},
	{nsCBC, "AccountingCost", false, false},
	{nsCBC, "LineCountNumeric", false, false},
	{nsCBC, "BuyerReference", false, false},
	{nsCAC, "InvoicePeriod", true, false},
	{nsCAC, "OrderReference", false, false},
	{nsCAC, "BillingReference", true, false},
	{nsCAC, "DespatchDocumentReference", true, false},
	{nsCAC, "ReceiptDocumentReference", true, false},
	{nsCAC, "StatementDocumentReference", true, false},
	{nsCAC, "OriginatorDocumentReference", true, false},
	{nsCAC, "ContractDocumentReference", true, false},
	{nsCAC, "AdditionalDocumentReference", true, false},
	{nsCAC, "ProjectReference", true, false},
	{nsCAC, "Signature", true, false},
	{nsCAC, "AccountingSupplierParty", false, true},
	{nsCAC, "AccountingCustomerParty", false, true},
	{nsCAC, "PayeeParty", false, false},
	{nsCAC, "BuyerCustomerParty", false, false},
	{nsCAC, "SellerSupplierParty", false, false},
	{nsCAC, "TaxRepresentativeParty", false, false},
	{nsCAC, "Delivery", true, false},
	{nsCAC, "DeliveryTerms", false, false},
	{nsCAC, "PaymentMeans", true, false},
	{nsCAC, "PaymentTerms", true, false},
	{nsCAC, "PrepaidPayment", true, false},
	{nsCAC, "AllowanceCharge", true, false},
	{nsCAC, "TaxExchangeRate", false, false},
	{nsCAC, "PricingExchangeRate", false, false},
	{nsCAC, "PaymentExchangeRate", false, false},
	{nsCAC, "PaymentAlternativeExchangeRate", false, false},
	{nsCAC, "TaxTotal", true, false},
	{nsCAC, "WithholdingTaxTotal", true, false},
	{nsCAC, "LegalMonetaryTotal", false, true},
	{nsCAC, "InvoiceLine", true, true},
}

// checkStructure is the XSD-level check of the simulator: the root, the order,
// cardinality and namespaces of Invoice's children, and the lexical form of amounts,
// quantities, dates and times anywhere in the document. It returns "" when the
// document passes.
func checkStructure(root *etree.Element) string {
	if root.Tag != "Invoice" || root.NamespaceURI() != nsInvoice {
		return fmt.Sprintf("root element is {%s}%s, want {%s}Invoice", root.NamespaceURI(), root.Tag, nsInvoice)
	}
	pos, count := 0, 0
	seen := make([]int, len(invoiceSequence))
	for _, c := range root.ChildElements() {
		ns := c.NamespaceURI()
		idx := slices.IndexFunc(invoiceSequence, func(s struct {
			ns, local string
			many      bool
			required  bool
		}) bool {
			return s.ns == ns && s.local == c.Tag
		})
		if idx < 0 {
			return fmt.Sprintf("element {%s}%s is not allowed in Invoice", ns, c.Tag)
		}
		if idx < pos {
			return fmt.Sprintf("element %s is out of order: it must come before %s", c.Tag, invoiceSequence[pos].local)
		}
		if idx == pos {
			count++
		} else {
			pos, count = idx, 1
		}
		if count > 1 && !invoiceSequence[idx].many {
			return fmt.Sprintf("element %s may appear only once", c.Tag)
		}
		seen[idx]++
	}
	for i, s := range invoiceSequence {
		if s.required && seen[i] == 0 {
			return fmt.Sprintf("required element %s is missing", s.local)
		}
	}
	var problem string
	walk(root, func(e *etree.Element) bool {
		if e.NamespaceURI() != nsCBC {
			return true
		}
		v := strings.TrimSpace(e.Text())
		switch {
		case strings.HasSuffix(e.Tag, "Amount"):
			if _, err := decimal.NewFromString(v); err != nil || !decimalRE.MatchString(v) {
				problem = fmt.Sprintf("%s %q is not a decimal number", e.Tag, v)
				return false
			}
			if e.SelectAttrValue("currencyID", "") == "" {
				problem = fmt.Sprintf("%s has no currencyID attribute", e.Tag)
				return false
			}
		case strings.HasSuffix(e.Tag, "Quantity"), e.Tag == "Percent":
			if !decimalRE.MatchString(v) {
				problem = fmt.Sprintf("%s %q is not a decimal number", e.Tag, v)
				return false
			}
		case strings.HasSuffix(e.Tag, "Date"):
			if _, err := time.Parse("2006-01-02", v); err != nil {
				problem = fmt.Sprintf("%s %q is not a date (YYYY-MM-DD)", e.Tag, v)
				return false
			}
		case e.Tag == "IssueTime":
			if !xsdTimeRE.MatchString(v) {
				problem = fmt.Sprintf("%s %q is not a time", e.Tag, v)
				return false
			}
		}
		return true
	})
	return problem
}

var (
	decimalRE     = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)
	xsdTimeRE     = regexp.MustCompile(`^[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$`)
	issueTimeRE   = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z?$`)
	uuidRE        = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
	txCodeRE      = regexp.MustCompile(`^(01|02)[01]{5}$`)
	fourDigitsRE  = regexp.MustCompile(`^[0-9]{4}$`)
	fiveDigitsRE  = regexp.MustCompile(`^[0-9]{5}$`)
	alnumRE       = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	sellerSchemes = []string{"CRN", "MOM", "MLS", "SAG", "OTH", "700"}
)

func walk(e *etree.Element, fn func(*etree.Element) bool) bool {
	if !fn(e) {
		return false
	}
	for _, c := range e.ChildElements() {
		if !walk(c, fn) {
			return false
		}
	}
	return true
}

// kids returns e's children {ns}local.
func kids(e *etree.Element, ns, local string) []*etree.Element {
	if e == nil {
		return nil
	}
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// at follows a path of "cac:X"/"cbc:Y" steps, taking the first match at each step.
func at(e *etree.Element, steps ...string) *etree.Element {
	for _, s := range steps {
		if e == nil {
			return nil
		}
		prefix, local, _ := strings.Cut(s, ":")
		ns := nsCBC
		if prefix == "cac" {
			ns = nsCAC
		}
		k := kids(e, ns, local)
		if len(k) == 0 {
			return nil
		}
		e = k[0]
	}
	return e
}

func text(e *etree.Element) string {
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

func amount(e *etree.Element) (decimal.Decimal, bool) {
	if e == nil {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(text(e))
	return d, err == nil
}

// ruleMsg builds a BR message: category KSA for BR-KSA-*, EN_16931 otherwise.
func ruleMsg(warning bool, code, text string) Message {
	cat := catEN
	if strings.HasPrefix(code, "BR-KSA") || strings.HasPrefix(code, "BR-CL-KSA") {
		cat = catKSA
	}
	if warning {
		return warnMsg(code, cat, "["+code+"]-"+text)
	}
	return errMsg(code, cat, "["+code+"]-"+text)
}

// checkRules applies the KSA and EN 16931 business rules the simulator knows (SPEC §7)
// to a structurally valid document. now is the simulator's clock.
func checkRules(root *etree.Element, now time.Time) []Message {
	var out []Message
	add := func(warning bool, code, format string, args ...any) {
		out = append(out, ruleMsg(warning, code, fmt.Sprintf(format, args...)))
	}

	if v := text(at(root, "cbc:ProfileID")); v != "reporting:1.0" {
		add(false, "BR-KSA-EN16931-01", "Business process (BT-23) must be \"reporting:1.0\", got %q.", v)
	}
	if v := text(at(root, "cbc:UUID")); !uuidRE.MatchString(v) {
		add(false, "BR-KSA-03", "The invoice must contain a unique identifier (KSA-1) of letters, digits and dashes, got %q.", v)
	}
	if d, err := time.ParseInLocation("2006-01-02", text(at(root, "cbc:IssueDate")), ksa); err == nil {
		today := now.In(ksa).Format("2006-01-02")
		if d.Format("2006-01-02") > today {
			add(false, "BR-KSA-04", "The document issue date (BT-2) must be less or equal to the current date (%s).", today)
		}
	}
	if v := text(at(root, "cbc:IssueTime")); !issueTimeRE.MatchString(v) {
		add(false, "BR-KSA-70", "The invoice must contain Invoice Issue Time (KSA-25) in the format hh:mm:ss (local time) or hh:mm:ssZ (UTC), got %q.", v)
	}

	tc := at(root, "cbc:InvoiceTypeCode")
	typeCode := text(tc)
	if !slices.Contains([]string{"388", "386", "383", "381"}, typeCode) {
		add(false, "BR-KSA-05", "The invoice type code (BT-3) must be 388, 386, 383 or 381, got %q.", typeCode)
	}
	name := ""
	if tc != nil {
		name = tc.SelectAttrValue("name", "")
	}
	simplified := strings.HasPrefix(name, "02")
	if !txCodeRE.MatchString(name) {
		add(false, "BR-KSA-06", "The invoice transaction code (KSA-2) must exist and have the structure NNPNESB (NN 01 or 02, each flag 0 or 1), got %q.", name)
	} else if simplified && (name[4] == '1' || name[6] == '1') {
		add(false, "BR-KSA-31", "A simplified tax invoice may only set the third party (P), nominal (N) and summary (S) flags of the transaction code (KSA-2), got %q.", name)
	}

	docCur := text(at(root, "cbc:DocumentCurrencyCode"))
	taxCur := at(root, "cbc:TaxCurrencyCode")
	if taxCur == nil || text(taxCur) == "" {
		add(false, "BR-KSA-68", "The tax currency code (BT-6) must exist.")
	} else if text(taxCur) != "SAR" {
		add(false, "BR-KSA-EN16931-02", "The tax currency code (BT-6) must be \"SAR\", got %q.", text(taxCur))
	}

	var icv, pih *etree.Element
	var qrText string
	for _, ref := range kids(root, nsCAC, "AdditionalDocumentReference") {
		switch text(at(ref, "cbc:ID")) {
		case "ICV":
			if icv == nil {
				icv = ref
			}
		case "PIH":
			if pih == nil {
				pih = ref
			}
		case "QR":
			qrText = text(at(ref, "cac:Attachment", "cbc:EmbeddedDocumentBinaryObject"))
		}
	}
	if icvV := text(at(icv, "cbc:UUID")); icvV == "" {
		add(false, "BR-KSA-33", "Each invoice must have an invoice counter value (KSA-16).")
	} else if !allDigits(icvV) {
		add(false, "BR-KSA-34", "The invoice counter value (KSA-16) contains only digits, got %q.", icvV)
	}
	pihObj := at(pih, "cac:Attachment", "cbc:EmbeddedDocumentBinaryObject")
	if pihObj == nil || text(pihObj) == "" || pihObj.SelectAttrValue("mimeCode", "") != "text/plain" {
		add(true, "BR-KSA-61", "The previous invoice hash (KSA-13) must exist as an embedded text/plain object.")
	} else if !validPIHFormat(text(pihObj)) {
		add(true, "BR-KSA-26", "The previous invoice hash (KSA-13) must be a base64 encoded SHA256 hash (or, for the first invoice, base64 of the hex SHA256 of \"0\").")
	}
	if len(qrText) > 1000 {
		add(false, "BR-CL-KSA-14", "The QR code (KSA-14) must be at most 1000 characters, got %d.", len(qrText))
	}

	seller := at(root, "cac:AccountingSupplierParty", "cac:Party")
	sellerVAT := text(at(seller, "cac:PartyTaxScheme", "cbc:CompanyID"))
	if sellerVAT == "" {
		add(false, "BR-KSA-39", "The seller VAT registration number (BT-31) must exist.")
	} else if !validVAT(sellerVAT) {
		add(false, "BR-KSA-40", "The seller VAT registration number (BT-31) must be 15 digits, the first and the last digit \"3\", got %q.", sellerVAT)
	}
	ids := kids(seller, nsCAC, "PartyIdentification")
	okIDs := 0
	for _, pi := range ids {
		id := at(pi, "cbc:ID")
		if id != nil && slices.Contains(sellerSchemes, id.SelectAttrValue("schemeID", "")) && alnumRE.MatchString(text(id)) {
			okIDs++
		}
	}
	if okIDs != 1 {
		add(true, "BR-KSA-08", "The seller must have exactly one other seller ID (BT-29) with scheme CRN, MOM, MLS, SAG, OTH or 700, alphanumeric.")
	}
	addr := at(seller, "cac:PostalAddress")
	if v := text(at(addr, "cbc:BuildingNumber")); !fourDigitsRE.MatchString(v) {
		add(true, "BR-KSA-37", "The seller address building number (KSA-17) must contain 4 digits, got %q.", v)
	}
	if v := text(at(addr, "cbc:PostalZone")); !fiveDigitsRE.MatchString(v) {
		add(true, "BR-KSA-66", "The seller postal code (BT-38) must be 5 digits, got %q.", v)
	}

	if typeCode == "381" || typeCode == "383" {
		reason := false
		for _, pm := range kids(root, nsCAC, "PaymentMeans") {
			if text(at(pm, "cbc:InstructionNote")) != "" {
				reason = true
			}
		}
		if !reason {
			add(false, "BR-KSA-17", "Debit and credit notes (code 383 and 381) must contain the reason (KSA-10) for their issuance in PaymentMeans/InstructionNote.")
		}
		if text(at(root, "cac:BillingReference", "cac:InvoiceDocumentReference", "cbc:ID")) == "" {
			add(true, "BR-KSA-56", "Debit and credit notes (code 383 and 381) should contain the billing reference ID (BT-25) of the original invoice.")
		}
	}

	out = append(out, checkTotals(root, docCur)...)
	return out
}

// validPIHFormat: base64 of 32 raw bytes, or the 88-character first-invoice form
// (base64 of 64 hex digits).
func validPIHFormat(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return false
	}
	if len(b) == 32 {
		return true
	}
	if len(b) == 64 {
		_, err := hex.DecodeString(string(b))
		return err == nil
	}
	return false
}

// checkTotals: VAT categories and rates, non-negative amounts, BR-CO-10/14/15/16 and
// the two TaxTotal elements of KSA documents.
func checkTotals(root *etree.Element, docCur string) []Message {
	var out []Message
	add := func(warning bool, code, format string, args ...any) {
		out = append(out, ruleMsg(warning, code, fmt.Sprintf(format, args...)))
	}
	negative := ""
	walk(root, func(e *etree.Element) bool {
		if e.NamespaceURI() == nsCBC && (strings.HasSuffix(e.Tag, "Amount") || strings.HasSuffix(e.Tag, "Quantity")) {
			if d, ok := amount(e); ok && d.IsNegative() {
				negative = e.Tag
				return false
			}
		}
		return true
	})
	if negative != "" {
		add(false, "BR-KSA-F-04", "Amounts and quantities must be positive or zero; %s is negative.", negative)
	}
	checkCategory := func(cat *etree.Element, where string) {
		if cat == nil {
			return
		}
		id := text(at(cat, "cbc:ID"))
		if !slices.Contains([]string{"S", "Z", "E", "O"}, id) {
			add(false, "BR-KSA-18", "The VAT category code (%s) must be S, Z, E or O, got %q.", where, id)
			return
		}
		if id == "S" {
			rate, ok := amount(at(cat, "cbc:Percent"))
			if !ok || !(rate.Equal(decimal.NewFromInt(5)) || rate.Equal(decimal.NewFromInt(15))) {
				add(false, "BR-KSA-84", "The VAT rate of standard rated items (%s) must be 5 or 15, got %q.", where, text(at(cat, "cbc:Percent")))
			}
		}
	}

	totals := kids(root, nsCAC, "TaxTotal")
	var withSubs, withoutSubs []*etree.Element
	for _, t := range totals {
		if len(kids(t, nsCAC, "TaxSubtotal")) > 0 {
			withSubs = append(withSubs, t)
		} else {
			withoutSubs = append(withoutSubs, t)
		}
	}
	if len(withSubs) != 1 {
		add(true, "BR-KSA-EN16931-08", "There must be exactly one tax total (BG-22) with tax subtotals, got %d.", len(withSubs))
	}
	if len(withoutSubs) != 1 {
		add(true, "BR-KSA-EN16931-09", "There must be exactly one tax total (BG-22) without tax subtotals, got %d.", len(withoutSubs))
	}
	if len(withSubs) > 0 {
		t := withSubs[0]
		total, okT := amount(at(t, "cbc:TaxAmount"))
		sum := decimal.Zero
		okS := true
		for i, st := range kids(t, nsCAC, "TaxSubtotal") {
			a, ok := amount(at(st, "cbc:TaxAmount"))
			okS = okS && ok
			sum = sum.Add(a)
			checkCategory(at(st, "cac:TaxCategory"), fmt.Sprintf("TaxSubtotal %d", i+1))
		}
		if okT && okS && !total.Equal(sum) {
			add(false, "BR-CO-14", "Invoice total VAT amount (BT-110) %s must equal the sum of VAT category tax amounts (BT-117) %s.", total, sum)
		}
	}

	lmt := at(root, "cac:LegalMonetaryTotal")
	taxExcl, okE := amount(at(lmt, "cbc:TaxExclusiveAmount"))
	taxIncl, okI := amount(at(lmt, "cbc:TaxInclusiveAmount"))
	var vat decimal.Decimal
	okV := false
	for _, t := range totals {
		a := at(t, "cbc:TaxAmount")
		if a != nil && (docCur == "" || a.SelectAttrValue("currencyID", "") == docCur) {
			vat, okV = amount(a)
			break
		}
	}
	if !okE || !okI {
		add(false, "BR-CO-15", "The invoice must have TaxExclusiveAmount (BT-109) and TaxInclusiveAmount (BT-112).")
	} else if okV && !taxIncl.Equal(taxExcl.Add(vat).Round(2)) {
		add(false, "BR-CO-15", "Invoice total amount with VAT (BT-112) %s must equal Invoice total amount without VAT (BT-109) %s + Invoice total VAT amount (BT-110) %s.", taxIncl, taxExcl, vat)
	}
	if payable, ok := amount(at(lmt, "cbc:PayableAmount")); ok && okI {
		prepaid, _ := amount(at(lmt, "cbc:PrepaidAmount"))
		rounding, _ := amount(at(lmt, "cbc:PayableRoundingAmount"))
		if !payable.Equal(taxIncl.Sub(prepaid).Add(rounding)) {
			add(true, "BR-CO-16", "Amount due for payment (BT-115) %s must equal TaxInclusiveAmount (BT-112) - PrepaidAmount (BT-113) + PayableRoundingAmount (BT-114).", payable)
		}
	}
	if lineTotal, ok := amount(at(lmt, "cbc:LineExtensionAmount")); ok {
		sum := decimal.Zero
		for i, line := range kids(root, nsCAC, "InvoiceLine") {
			a, _ := amount(at(line, "cbc:LineExtensionAmount"))
			sum = sum.Add(a)
			checkCategory(at(line, "cac:Item", "cac:ClassifiedTaxCategory"), fmt.Sprintf("InvoiceLine %d", i+1))
		}
		if !lineTotal.Equal(sum) {
			add(true, "BR-CO-10", "Sum of Invoice line net amount (BT-106) %s must equal the sum of the line net amounts (BT-131) %s.", lineTotal, sum)
		}
	}
	return out
}

// issueInstant is IssueDate+IssueTime in KSA time (UTC when the time ends in Z).
func issueInstant(date, tm string) (time.Time, bool) {
	loc := ksa
	if strings.HasSuffix(tm, "Z") {
		loc = time.UTC
		tm = strings.TrimSuffix(tm, "Z")
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", date+"T"+tm, loc)
	return t, err == nil
}
