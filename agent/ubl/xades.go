package ubl

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// The UBLExtensions block is written from this one template, with the
// layout of the SDK samples (SPEC §5.1). The SignedProperties part is
// rendered once; its digest is computed from exactly those bytes with the
// dom4j namespace insertions (SPEC §5.3), so the hashed text is the written
// text.

const extHead = `<ext:UBLExtensions>
    <ext:UBLExtension>
        <ext:ExtensionURI>urn:oasis:names:specification:ubl:dsig:enveloped:xades</ext:ExtensionURI>
        <ext:ExtensionContent>
            <sig:UBLDocumentSignatures xmlns:sig="urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2" xmlns:sac="urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2" xmlns:sbc="urn:oasis:names:specification:ubl:schema:xsd:SignatureBasicComponents-2">
                <sac:SignatureInformation>
                    <cbc:ID>urn:oasis:names:specification:ubl:signature:1</cbc:ID>
                    <sbc:ReferencedSignatureID>urn:oasis:names:specification:ubl:signature:Invoice</sbc:ReferencedSignatureID>
                    <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="signature">
                        <ds:SignedInfo>
                            <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2006/12/xml-c14n11"/>
                            <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>
                            <ds:Reference Id="invoiceSignedData" URI="">
                                <ds:Transforms>
                                    <ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">
                                        <ds:XPath>not(//ancestor-or-self::ext:UBLExtensions)</ds:XPath>
                                    </ds:Transform>
                                    <ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">
                                        <ds:XPath>not(//ancestor-or-self::cac:Signature)</ds:XPath>
                                    </ds:Transform>
                                    <ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">
                                        <ds:XPath>not(//ancestor-or-self::cac:AdditionalDocumentReference[cbc:ID='QR'])</ds:XPath>
                                    </ds:Transform>
                                    <ds:Transform Algorithm="http://www.w3.org/2006/12/xml-c14n11"/>
                                </ds:Transforms>
                                <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
                                <ds:DigestValue>`

const extAfterHash = `</ds:DigestValue>
                            </ds:Reference>
                            <ds:Reference Type="http://www.w3.org/2000/09/xmldsig#SignatureProperties" URI="#xadesSignedProperties">
                                <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
                                <ds:DigestValue>`

const extAfterPropsDigest = `</ds:DigestValue>
                            </ds:Reference>
                        </ds:SignedInfo>
                        <ds:SignatureValue>`

const extAfterSignature = `</ds:SignatureValue>
                        <ds:KeyInfo>
                            <ds:X509Data>
                                <ds:X509Certificate>`

const extAfterCert = `</ds:X509Certificate>
                            </ds:X509Data>
                        </ds:KeyInfo>
                        <ds:Object>
                            <xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="signature">
                                `

const extTail = `
                            </xades:QualifyingProperties>
                        </ds:Object>
                    </ds:Signature>
                </sac:SignatureInformation>
            </sig:UBLDocumentSignatures>
        </ext:ExtensionContent>
    </ext:UBLExtension>
</ext:UBLExtensions>`

// The xades:SignedProperties element, in four pieces around its values.
const (
	spHead = `<xades:SignedProperties Id="xadesSignedProperties">
                                    <xades:SignedSignatureProperties>
                                        <xades:SigningTime>`
	spAfterTime = `</xades:SigningTime>
                                        <xades:SigningCertificate>
                                            <xades:Cert>
                                                <xades:CertDigest>
                                                    <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
                                                    <ds:DigestValue>`
	spAfterDigest = `</ds:DigestValue>
                                                </xades:CertDigest>
                                                <xades:IssuerSerial>
                                                    <ds:X509IssuerName>`
	spAfterIssuer = `</ds:X509IssuerName>
                                                    <ds:X509SerialNumber>`
	spTail = `</ds:X509SerialNumber>
                                                </xades:IssuerSerial>
                                            </xades:Cert>
                                        </xades:SigningCertificate>
                                    </xades:SignedSignatureProperties>
                                </xades:SignedProperties>`
)

// appendSignedProperties writes the xades:SignedProperties element.
func appendSignedProperties(b []byte, signingTime, certDigest, issuerName, serial string) []byte {
	b = append(b, spHead...)
	b = appendEscaped(b, signingTime, escText)
	b = append(b, spAfterTime...)
	b = appendEscaped(b, certDigest, escText)
	b = append(b, spAfterDigest...)
	b = appendEscaped(b, issuerName, escText)
	b = append(b, spAfterIssuer...)
	b = appendEscaped(b, serial, escText)
	return append(b, spTail...)
}

// appendUBLExtensions writes the whole signature block around the already
// rendered SignedProperties bytes.
func appendUBLExtensions(b []byte, invoiceHash, propsDigest, signatureValue, certBase64 string, signedProps []byte) []byte {
	b = append(b, extHead...)
	b = append(b, invoiceHash...)
	b = append(b, extAfterHash...)
	b = append(b, propsDigest...)
	b = append(b, extAfterPropsDigest...)
	b = append(b, signatureValue...)
	b = append(b, extAfterSignature...)
	b = append(b, certBase64...)
	b = append(b, extAfterCert...)
	b = append(b, signedProps...)
	return append(b, extTail...)
}

var (
	xadesDecl = []byte(` xmlns:xades="` + NSXAdES + `"`)
	dsDecl    = []byte(` xmlns:ds="` + NSDS + `"`)
)

// propsDigestInput applies SPEC §5.3 to SignedProperties text written by
// appendSignedProperties: xmlns:xades after the element name of
// xades:SignedProperties, xmlns:ds after the name of every ds: start tag.
func propsDigestInput(dst, written []byte) []byte {
	const spName = "<xades:SignedProperties"
	dst = append(dst, spName...)
	dst = append(dst, xadesDecl...)
	rest := written[len(spName):]
	for {
		i := bytes.Index(rest, []byte("<ds:"))
		if i < 0 {
			return append(dst, rest...)
		}
		j := i + 4
		for j < len(rest) && rest[j] != ' ' && rest[j] != '>' && rest[j] != '/' {
			j++
		}
		dst = append(dst, rest[:j]...)
		dst = append(dst, dsDecl...)
		rest = rest[j:]
	}
}

// hexDigestBase64 is base64 of the lower-case hex of SHA-256(b), the
// 88-character form of CertDigest and the SignedProperties digest.
func hexDigestBase64(b []byte) string {
	sum := sha256.Sum256(b)
	var h [64]byte
	hex.Encode(h[:], sum[:])
	return base64.StdEncoding.EncodeToString(h[:])
}

// CertDigest returns the xades:CertDigest value: base64 of the hex SHA-256
// of the certificate's base64 text, as written in ds:X509Certificate
// (SPEC §0.1 items 3–4).
func CertDigest(certBase64 string) string {
	return hexDigestBase64([]byte(certBase64))
}

// SignedPropertiesDigest returns the digest of the xades:SignedProperties
// element this package writes for these values (SPEC §5.3).
func SignedPropertiesDigest(signingTime, certDigest, issuerName, serial string) string {
	sp := appendSignedProperties(nil, signingTime, certDigest, issuerName, serial)
	return hexDigestBase64(propsDigestInput(nil, sp))
}

// dom4jXML serialises element e the way dom4j's Element.asXML() does, which
// is what ZATCA's validator hashes for the SignedProperties reference
// (SPEC §5.3): namespace declarations are written on the first element that
// uses a namespace not yet declared in the output, and again on each
// sibling; attributes in document order with double quotes; empty elements
// as <x/>; text with &, < and > escaped.
func (d *document) dom4jXML(dst []byte, e int32) []byte {
	var stack []nsDecl
	return d.dom4jElement(dst, e, &stack)
}

func (d *document) dom4jElement(b []byte, e int32, stack *[]nsDecl) []byte {
	el := &d.els[e]
	mark := len(*stack)
	declared := func(prefix, uri string) bool {
		for i := len(*stack) - 1; i >= 0; i-- {
			if (*stack)[i].prefix == prefix {
				return (*stack)[i].uri == uri
			}
		}
		return prefix == "" && uri == ""
	}
	b = append(b, '<')
	b = append(b, el.qname...)
	prefix := ""
	if i := bytes.IndexByte(el.qname, ':'); i >= 0 {
		prefix = string(el.qname[:i])
	}
	if !declared(prefix, el.uri) {
		*stack = append(*stack, nsDecl{prefix: prefix, uri: el.uri})
		b = appendNSDecl(b, prefix, el.uri)
	}
	for _, nd := range el.decls {
		if nd.prefix == "xml" || declared(nd.prefix, nd.uri) {
			continue
		}
		*stack = append(*stack, nd)
		b = appendNSDecl(b, nd.prefix, nd.uri)
	}
	for _, a := range el.attrs {
		if a.uri != "" && a.uri != nsXML {
			p := ""
			if i := bytes.IndexByte(a.qname, ':'); i >= 0 {
				p = string(a.qname[:i])
			}
			if !declared(p, a.uri) {
				*stack = append(*stack, nsDecl{prefix: p, uri: a.uri})
				b = appendNSDecl(b, p, a.uri)
			}
		}
		b = append(b, ' ')
		b = append(b, a.qname...)
		b = append(b, `="`...)
		b = appendEscaped(b, a.value, escDom4jAttr)
		b = append(b, '"')
	}
	// dom4j counts declared namespaces as content, so <x xmlns:p="…"/>
	// is written with an end tag.
	if len(el.content) == 0 && len(el.decls) == 0 {
		b = append(b, "/>"...)
	} else {
		b = append(b, '>')
		for _, it := range el.content {
			if it.el < 0 {
				b = appendEscaped(b, it.text, escText)
				continue
			}
			b = d.dom4jElement(b, it.el, stack)
		}
		b = append(b, "</"...)
		b = append(b, el.qname...)
		b = append(b, '>')
	}
	*stack = (*stack)[:mark]
	return b
}

func appendNSDecl(b []byte, prefix, uri string) []byte {
	if prefix == "" {
		b = append(b, ` xmlns="`...)
	} else {
		b = append(b, ` xmlns:`...)
		b = append(b, prefix...)
		b = append(b, `="`...)
	}
	b = appendEscaped(b, uri, escDom4jAttr)
	return append(b, '"')
}
