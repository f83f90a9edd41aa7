<?xml version="1.0" encoding="UTF-8"?>
<!--
  The transform ZATCA's SDK applies before hashing an invoice (its invoice.xsl,
  also reproduced by the public integrations): copy everything except
  UBLExtensions under Invoice, Signature children of Invoice and the QR
  AdditionalDocumentReference. The tests run it with xsltproc and canonicalise
  the result with xmllint as an independent check of CanonicalInvoice.
-->
<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:xs="http://www.w3.org/2001/XMLSchema"
                xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
                xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
                xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
                xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
                exclude-result-prefixes="xs"
                version="2.0">
    <xsl:output omit-xml-declaration="yes" encoding="utf-8" indent="no"/>
    <xsl:template match="node() | @*">
        <xsl:copy>
            <xsl:apply-templates select="node() | @*"/>
        </xsl:copy>
    </xsl:template>
    <xsl:template match="//*[local-name()='Invoice']//*[local-name()='UBLExtensions']"></xsl:template>
    <xsl:template match="//*[local-name()='AdditionalDocumentReference'][cbc:ID[normalize-space(text()) = 'QR']]"></xsl:template>
    <xsl:template match="//*[local-name()='Invoice']/*[local-name()='Signature']"></xsl:template>
</xsl:stylesheet>
