from django import forms
from django.core.validators import URLValidator


class ApproveForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    override_reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class StopForm(forms.Form):
    reason = forms.CharField(required=True, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason = forms.CharField(required=True, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class EnvironmentForm(forms.Form):
    """A new environment: an AWS account (or the sandbox) and the two regions."""

    name = forms.RegexField(
        regex=r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$",
        max_length=24,
        help_text="Up to 24 lowercase letters, digits and hyphens, starting with a letter; names every resource.",
        error_messages={
            "invalid": "Enter a valid name: lowercase letters, digits and hyphens, starting with a letter."
        },
    )
    kind = forms.ChoiceField(choices=[("sandbox", "Sandbox (moto)"), ("aws", "AWS account")])
    source_region = forms.RegexField(regex=r"^[a-z]{2}(-[a-z]+)+-\d$", initial="us-east-1")
    target_region = forms.RegexField(regex=r"^[a-z]{2}(-[a-z]+)+-\d$", initial="eu-central-1")
    aws_endpoint_url = forms.URLField(
        required=False,
        assume_scheme="http",
        max_length=200,
        # Django's URLField also takes ftp:// and ftps://; an AWS endpoint is http(s) only.
        validators=[
            URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.", code="scheme")
        ],
        help_text="Sandbox only: the moto server's URL.",
    )
    hosted_zone_name = forms.RegexField(regex=r"^([a-z0-9-]+\.)+[a-z]{2,}\.?$", initial="cutover.example.com")
    record_name = forms.RegexField(regex=r"^([a-z0-9-]+\.)+[a-z]{2,}\.?$", initial="api.cutover.example.com")
    create_hosted_zone = forms.BooleanField(
        required=False, initial=True, help_text="Create the public hosted zone if the account does not have it yet."
    )
    control_plane_principal_arn = forms.RegexField(
        regex=r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$",
        required=False,
        help_text="IAM principal allowed to assume the approval role; blank means the account.",
        error_messages={"invalid": "Enter an IAM ARN such as arn:aws:iam::123456789012:role/control-plane."},
    )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if name == "new":
            raise forms.ValidationError("“new” is reserved; choose another name.")
        return name

    def clean(self):
        data = super().clean()
        if data.get("source_region") and data.get("source_region") == data.get("target_region"):
            raise forms.ValidationError("The source and target regions must differ.")
        if data.get("kind") == "sandbox" and not data.get("aws_endpoint_url"):
            raise forms.ValidationError("A sandbox environment needs the sandbox AWS endpoint URL.")
        if data.get("kind") == "aws" and data.get("aws_endpoint_url"):
            raise forms.ValidationError("An AWS environment talks to AWS itself: leave the endpoint blank.")
        zone, record = data.get("hosted_zone_name", ""), data.get("record_name", "")
        if zone and record and not record.rstrip(".").endswith("." + zone.rstrip(".")):
            raise forms.ValidationError(f"The record {record} is not inside the hosted zone {zone}.")
        return data
