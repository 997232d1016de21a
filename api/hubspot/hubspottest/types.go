package hubspottest

import (
	"slices"
	"strings"
)

// standardTypes returns the built-in object types with a realistic subset of
// HubSpot's own property definitions: enough types (string, number, bool,
// enumeration, date, datetime, phone_number) and read-only system
// properties to exercise every rule.
func standardTypes() []*objectType {
	ro := &ModificationMetadata{ReadOnlyValue: true, ReadOnlyDefinition: true}
	sys := func(name, label, typ, field string) Property {
		return Property{Name: name, Label: label, Type: typ, FieldType: field, GroupName: "contactinformation",
			HubspotDefined: true, ModificationMetadata: ro, Options: []Option{}}
	}
	def := func(name, label, typ, field, group string, opts ...Option) Property {
		if opts == nil {
			opts = []Option{}
		}
		return Property{Name: name, Label: label, Type: typ, FieldType: field, GroupName: group, FormField: true,
			HubspotDefined: true, Options: opts, ModificationMetadata: &ModificationMetadata{Archivable: false, ReadOnlyDefinition: true}}
	}
	opt := func(values ...string) []Option {
		out := make([]Option, len(values))
		for i, v := range values {
			out[i] = Option{Label: labelOf(v), Value: v, DisplayOrder: i}
		}
		return out
	}
	owner := func(group string) Property {
		p := def("hubspot_owner_id", "Owner", "enumeration", "select", group)
		p.ExternalOptions = true
		return p
	}
	lifecycle := opt("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other")

	contacts := &objectType{
		name: "contacts", typeID: "0-1", lastModified: "lastmodifieddate",
		defaults: []string{"firstname", "lastname", "email"},
		props: []Property{
			sys("hs_object_id", "Record ID", "number", "number"),
			sys("createdate", "Create Date", "datetime", "date"),
			sys("lastmodifieddate", "Last Modified Date", "datetime", "date"),
			def("email", "Email", "string", "text", "contactinformation"),
			def("firstname", "First Name", "string", "text", "contactinformation"),
			def("lastname", "Last Name", "string", "text", "contactinformation"),
			def("phone", "Phone Number", "string", "phonenumber", "contactinformation"),
			def("jobtitle", "Job Title", "string", "text", "contactinformation"),
			def("company", "Company Name", "string", "text", "contactinformation"),
			def("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "contactinformation", lifecycle...),
			def("hs_lead_status", "Lead Status", "enumeration", "select", "sales_properties",
				opt("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING")...),
			def("hubspotscore", "HubSpot Score", "number", "number", "contactinformation"),
			def("annualrevenue", "Annual Revenue", "string", "text", "contactinformation"),
			owner("sales_properties"),
		},
	}
	companies := &objectType{
		name: "companies", typeID: "0-2", lastModified: "hs_lastmodifieddate",
		defaults: []string{"name", "domain"},
		props: []Property{
			sys("hs_object_id", "Record ID", "number", "number"),
			sys("createdate", "Create Date", "datetime", "date"),
			sys("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
			def("name", "Name", "string", "text", "companyinformation"),
			def("domain", "Company Domain Name", "string", "text", "companyinformation"),
			def("industry", "Industry", "string", "text", "companyinformation"),
			def("numberofemployees", "Number of Employees", "number", "number", "companyinformation"),
			def("annualrevenue", "Annual Revenue", "number", "number", "companyinformation"),
			def("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "companyinformation", lifecycle...),
			owner("companyinformation"),
		},
	}
	deals := &objectType{
		name: "deals", typeID: "0-3", lastModified: "hs_lastmodifieddate",
		defaults: []string{"dealname", "amount", "closedate", "pipeline", "dealstage"},
		required: []string{"dealname", "pipeline", "dealstage"},
		props: []Property{
			sys("hs_object_id", "Record ID", "number", "number"),
			sys("createdate", "Create Date", "datetime", "date"),
			sys("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
			def("dealname", "Deal Name", "string", "text", "dealinformation"),
			def("amount", "Amount", "number", "number", "dealinformation"),
			def("closedate", "Close Date", "datetime", "date", "dealinformation"),
			def("pipeline", "Pipeline", "enumeration", "select", "dealinformation", opt("default")...),
			def("dealstage", "Deal Stage", "enumeration", "radio", "dealinformation",
				opt("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent", "closedwon", "closedlost")...),
			def("description", "Deal Description", "string", "textarea", "dealinformation"),
			owner("dealinformation"),
		},
	}
	tasks := &objectType{
		name: "tasks", typeID: "0-27", lastModified: "hs_lastmodifieddate",
		defaults: []string{"hs_task_subject", "hs_task_status", "hs_timestamp"},
		required: []string{"hs_timestamp"},
		props: []Property{
			sys("hs_object_id", "Record ID", "number", "number"),
			sys("createdate", "Create Date", "datetime", "date"),
			sys("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
			def("hs_timestamp", "Due date", "datetime", "date", "task"),
			def("hs_task_subject", "Task Title", "string", "text", "task"),
			def("hs_task_body", "Notes", "string", "html", "task"),
			def("hs_task_status", "Task Status", "enumeration", "select", "task", opt("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")...),
			def("hs_task_priority", "Priority", "enumeration", "select", "task", opt("NONE", "LOW", "MEDIUM", "HIGH")...),
			def("hs_task_type", "Task Type", "enumeration", "select", "task", opt("TODO", "CALL", "EMAIL", "LINKED_IN")...),
			owner("task"),
		},
	}
	tickets := &objectType{
		name: "tickets", typeID: "0-5", lastModified: "hs_lastmodifieddate",
		defaults: []string{"content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"},
		required: []string{"subject", "hs_pipeline", "hs_pipeline_stage"},
		props: []Property{
			sys("hs_object_id", "Record ID", "number", "number"),
			sys("createdate", "Create Date", "datetime", "date"),
			sys("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
			def("subject", "Ticket name", "string", "text", "ticketinformation"),
			def("content", "Ticket description", "string", "textarea", "ticketinformation"),
			def("hs_pipeline", "Pipeline", "enumeration", "select", "ticketinformation", opt("0")...),
			def("hs_pipeline_stage", "Ticket status", "enumeration", "select", "ticketinformation", opt("1", "2", "3", "4")...),
			def("hs_ticket_category", "Category", "enumeration", "checkbox", "ticketinformation", opt("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY")...),
			def("hs_ticket_priority", "Priority", "enumeration", "select", "ticketinformation", opt("LOW", "MEDIUM", "HIGH")...),
		},
	}
	out := []*objectType{contacts, companies, deals, tickets, tasks}
	for _, t := range out {
		t.records = map[int64]*Object{}
		t.labels = [2]string{labelOf(strings.ToLower(t.singular())), labelOf(t.name)}
		t.finish()
	}
	return out
}

// finish numbers the properties and derives the property groups.
func (t *objectType) finish() {
	for i := range t.props {
		t.props[i].DisplayOrder = i
		if !slices.ContainsFunc(t.groups, func(g PropertyGroup) bool { return g.Name == t.props[i].GroupName }) {
			t.groups = append(t.groups, PropertyGroup{Name: t.props[i].GroupName, Label: labelOf(strings.ReplaceAll(t.props[i].GroupName, "_", " ")), DisplayOrder: len(t.groups)})
		}
	}
}

func labelOf(value string) string {
	if value == "" {
		return value
	}
	b := []byte(value)
	if b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}
