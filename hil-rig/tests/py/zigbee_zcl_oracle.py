"""Encodes ZCL frames with zigpy and prints them as one JSON object {name: hex}.

The Rust test `zcl_frames_equal_zigpy_live_encodings` builds the same frames with the rig's
codec and compares bytes, then decodes zigpy's bytes and compares fields. Headers come from
zigpy.zcl.foundation.ZCLHeader, general command bodies from foundation.GENERAL_COMMANDS
schemas, Metering cluster commands from zigpy's own Metering command definitions, and the
payloads of clusters zigpy leaves empty (Price, Prepayment, Messaging) from CommandSchema
classes declared here with zigpy field types, so zigpy's serialisers do every byte.
"""
import json
import sys

import zigpy.types as t
import zigpy.zcl.foundation as f
from zigpy.zcl.clusters.smartenergy import Metering

GC = f.GeneralCommand
C2S = f.Direction.Client_to_Server
S2C = f.Direction.Server_to_Client
S = f.Status


def tv(type_id, value):
    """A typed attribute value, serialised by the Python type zigpy maps the id to."""
    py = f.DataType.from_type_id(type_id).python_type
    return f.TypeValue(type=type_id, value=py(value))


def general(cmd, tsn, direction=C2S, manufacturer=None, **kw):
    hdr = f.ZCLHeader.general(tsn=tsn, command_id=cmd, manufacturer=manufacturer, direction=direction)
    return hdr.serialize() + f.GENERAL_COMMANDS[cmd].schema(**kw).serialize()


def cluster(cmd_id, tsn, body: bytes, direction=C2S, manufacturer=None):
    hdr = f.ZCLHeader.cluster(tsn=tsn, command_id=cmd_id, manufacturer=manufacturer, direction=direction)
    return hdr.serialize() + body


def read_rec(attrid, type_id=None, value=None, status=S.SUCCESS):
    if status != S.SUCCESS:
        return f.ReadAttributeRecord(attrid=attrid, status=status)
    return f.ReadAttributeRecord(attrid=attrid, status=status, value=tv(type_id, value))


def attr(attrid, type_id, value):
    return f.Attribute(attrid=attrid, value=tv(type_id, value))


def report_config(attrid, type_id, min_i, max_i, change=None):
    rc = f.AttributeReportingConfig()
    rc.direction = f.ReportingDirection.SendReports
    rc.attrid = attrid
    rc.datatype = type_id
    rc.min_interval = min_i
    rc.max_interval = max_i
    rc.reportable_change = change
    return rc


def expect_config(attrid, timeout):
    rc = f.AttributeReportingConfig()
    rc.direction = f.ReportingDirection.ReceiveReports
    rc.attrid = attrid
    rc.timeout = timeout
    return rc


# Smart Energy 1.2 payloads of clusters zigpy only declares as shells.
class GetCurrentPrice(f.CommandSchema):
    command_options: t.bitmap8


class PublishPrice(f.CommandSchema):
    provider_id: t.uint32_t
    rate_label: t.LVBytes
    issuer_event_id: t.uint32_t
    current_time: t.UTCTime
    unit_of_measure: t.enum8
    currency: t.uint16_t
    price_trailing_digit_and_price_tier: t.bitmap8
    number_of_price_tiers_and_register_tier: t.bitmap8
    start_time: t.UTCTime
    duration_in_minutes: t.uint16_t
    price: t.uint32_t
    price_ratio: t.uint8_t
    generation_price: t.uint32_t
    generation_price_ratio: t.uint8_t
    alternate_cost_delivered: t.uint32_t
    alternate_cost_unit: t.enum8
    alternate_cost_trailing_digit: t.bitmap8
    number_of_block_thresholds: t.uint8_t
    price_control: t.bitmap8


class PublishPriceSe10(f.CommandSchema):
    provider_id: t.uint32_t
    rate_label: t.LVBytes
    issuer_event_id: t.uint32_t
    current_time: t.UTCTime
    unit_of_measure: t.enum8
    currency: t.uint16_t
    price_trailing_digit_and_price_tier: t.bitmap8
    number_of_price_tiers_and_register_tier: t.bitmap8
    start_time: t.UTCTime
    duration_in_minutes: t.uint16_t
    price: t.uint32_t


class SelectAvailableEmergencyCredit(f.CommandSchema):
    command_issue_date_time: t.UTCTime
    originating_device: t.enum8


class EmergencyCreditSetup(f.CommandSchema):
    issuer_event_id: t.uint32_t
    start_time: t.UTCTime
    emergency_credit_limit: t.uint32_t
    emergency_credit_threshold: t.uint32_t


class ConsumerTopUp(f.CommandSchema):
    originating_device: t.enum8
    top_up_code: t.LVBytes


class ConsumerTopUpResponse(f.CommandSchema):
    result_type: t.enum8
    top_up_value: t.int32s
    source_of_top_up: t.enum8
    credit_remaining: t.int32s


class DisplayMessage(f.CommandSchema):
    message_id: t.uint32_t
    message_control: t.bitmap8
    start_time: t.UTCTime
    duration_in_minutes: t.uint16_t
    message: t.CharacterString
    extended_message_control: t.bitmap8


class CancelMessage(f.CommandSchema):
    message_id: t.uint32_t
    message_control: t.bitmap8


class MessageConfirmation(f.CommandSchema):
    message_id: t.uint32_t
    confirmation_time: t.UTCTime


class MessageConfirmationSe12(f.CommandSchema):
    message_id: t.uint32_t
    confirmation_time: t.UTCTime
    message_confirmation_control: t.bitmap8
    message_response: t.LVBytes


D = f.DataTypeId
T0 = 0x2F3A1B00  # a UTC time (seconds since 2000)
out = {}

# --- Basic
out["basic_read_attributes"] = general(GC.Read_Attributes, 0x01, attribute_ids=[0x0004, 0x0005, 0x0006, 0x4000])
out["basic_read_attributes_rsp"] = general(GC.Read_Attributes_rsp, 0x01, S2C, status_records=[
    read_rec(0x0004, D.string, "HubGate Labs"), read_rec(0x0005, D.string, "ESME-1"),
    read_rec(0x0000, D.uint8, 3), read_rec(0x0007, D.enum8, 1),
    read_rec(0x4000, status=S.UNSUPPORTED_ATTRIBUTE)])

# --- Time
out["time_read_attributes_rsp"] = general(GC.Read_Attributes_rsp, 0x02, S2C, status_records=[
    read_rec(0x0000, D.UTC, T0), read_rec(0x0001, D.map8, 0x02),
    read_rec(0x0002, D.int32, -3600), read_rec(0x0007, D.uint32, T0 + 3600)])
out["time_write_attributes"] = general(GC.Write_Attributes, 0x03, attributes=[
    attr(0x0000, D.UTC, T0), attr(0x0002, D.int32, 0)])
out["time_write_attributes_rsp_ok"] = general(GC.Write_Attributes_rsp, 0x03, S2C, status_records=[
    f.WriteAttributesStatusRecord(status=S.SUCCESS)])
out["time_write_attributes_rsp_failed"] = general(GC.Write_Attributes_rsp, 0x04, S2C, status_records=[
    f.WriteAttributesStatusRecord(status=S.READ_ONLY, attrid=0x0000),
    f.WriteAttributesStatusRecord(status=S.UNSUPPORTED_ATTRIBUTE, attrid=0x0005)])

# --- Metering, general commands
out["metering_report_several"] = general(GC.Report_Attributes, 0x50, S2C, attribute_reports=[
    attr(0x0000, D.uint48, 123456789), attr(0x0001, D.uint48, 42),
    attr(0x0400, D.int24, -1234), attr(0x0200, D.map8, 0x81)])
out["metering_configure_reporting_mixed"] = general(GC.Configure_Reporting, 0x51, config_records=[
    report_config(0x0400, D.int24, 1, 60, 5), report_config(0x0200, D.map8, 0, 3600),
    expect_config(0x0000, 1800)])
out["metering_configure_reporting_rsp_ok"] = general(GC.Configure_Reporting_rsp, 0x51, S2C, status_records=[
    f.ConfigureReportingResponseRecord(status=S.SUCCESS)])
out["metering_configure_reporting_rsp_failed"] = general(GC.Configure_Reporting_rsp, 0x52, S2C, status_records=[
    f.ConfigureReportingResponseRecord(status=S.UNREPORTABLE_ATTRIBUTE, direction=0, attrid=0x0400)])
out["metering_default_response"] = general(GC.Default_Response, 0x53, S2C, command_id=0x06, status=S.UNSUP_CLUSTER_COMMAND)
out["metering_read_attributes_mfr"] = general(GC.Read_Attributes, 0x54, manufacturer=0x1234, attribute_ids=[0x0000, 0x5000])
out["metering_report_mfr_s2c"] = general(GC.Report_Attributes, 0x55, S2C, manufacturer=0x1234, attribute_reports=[
    attr(0x5000, D.uint16, 500)])
out["metering_mfr_cluster_command"] = cluster(0x05, 0x56, bytes.fromhex("0102ff"), manufacturer=0x1002)

# --- Metering, cluster commands from zigpy's Metering definitions
M_S, M_C = Metering.ServerCommandDefs, Metering.ClientCommandDefs
out["metering_get_profile_received"] = cluster(M_S.get_profile.id, 0x57, M_S.get_profile.schema(
    interval_channel=1, end_time=T0, number_of_periods=48).serialize())
out["metering_get_profile_response"] = cluster(M_C.get_profile_response.id, 0x57, M_C.get_profile_response.schema(
    end_time=T0, status=0, profile_interval_period=2, number_of_periods_delivered=3,
    intervals=[100, 200, 0xFFFFFF]).serialize(), direction=S2C)
out["metering_request_fast_poll_mode"] = cluster(M_S.request_fast_poll_mode.id, 0x58, M_S.request_fast_poll_mode.schema(
    fast_poll_update_period=5, duration=15).serialize())
out["metering_request_fast_poll_mode_response"] = cluster(
    M_C.request_fast_poll_mode_response.id, 0x58, M_C.request_fast_poll_mode_response.schema(
        applied_update_period=5, fast_poll_mode_end_time=T0 + 900).serialize(), direction=S2C)

# --- Price
out["price_read_attributes_rsp"] = general(GC.Read_Attributes_rsp, 0x60, S2C, status_records=[
    read_rec(0x0615, D.enum8, 0), read_rec(0x0616, D.uint16, 826), read_rec(0x0610, D.octstr, b"Standard"),
    read_rec(0x0301, D.uint32, 2500)])
out["price_get_current_price"] = cluster(0x00, 0x61, GetCurrentPrice(command_options=1).serialize())
common = dict(provider_id=0x11223344, rate_label=b"Day", issuer_event_id=7, current_time=T0, unit_of_measure=0,
              currency=826, price_trailing_digit_and_price_tier=0x31, number_of_price_tiers_and_register_tier=0x21,
              start_time=0, duration_in_minutes=0xFFFF, price=1234)
out["price_publish_price_se11"] = cluster(0x00, 0x62, PublishPrice(
    **common, price_ratio=0xFF, generation_price=0xFFFFFFFF, generation_price_ratio=0xFF,
    alternate_cost_delivered=0xFFFFFFFF, alternate_cost_unit=0xFF, alternate_cost_trailing_digit=0xFF,
    number_of_block_thresholds=0, price_control=0).serialize(), direction=S2C)
out["price_publish_price_se10"] = cluster(0x00, 0x63, PublishPriceSe10(**common).serialize(), direction=S2C)

# --- Prepayment
out["prepayment_read_attributes_rsp"] = general(GC.Read_Attributes_rsp, 0x70, S2C, status_records=[
    read_rec(0x0001, D.int32, -1500), read_rec(0x0020, D.uint48, 987654321), read_rec(0x0003, D.map8, 0x05),
    read_rec(0x0004, D.UTC, T0), read_rec(0x0000, D.map16, 0x0102)])
out["prepayment_configure_reporting"] = general(GC.Configure_Reporting, 0x71, config_records=[
    report_config(0x0001, D.int32, 10, 300, 100)])
out["prepayment_select_emergency_credit"] = cluster(0x00, 0x72, SelectAvailableEmergencyCredit(
    command_issue_date_time=T0, originating_device=2).serialize())
out["prepayment_emergency_credit_setup"] = cluster(0x03, 0x73, EmergencyCreditSetup(
    issuer_event_id=9, start_time=0, emergency_credit_limit=500, emergency_credit_threshold=100).serialize())
out["prepayment_consumer_top_up"] = cluster(0x04, 0x74, ConsumerTopUp(
    originating_device=1, top_up_code=b"12345678901234567890").serialize())
out["prepayment_consumer_top_up_response"] = cluster(0x03, 0x74, ConsumerTopUpResponse(
    result_type=0, top_up_value=2000, source_of_top_up=1, credit_remaining=-250).serialize(), direction=S2C)

# --- Messaging
out["messaging_display_message"] = cluster(0x00, 0x80, DisplayMessage(
    message_id=0xDEADBEEF, message_control=0x08, start_time=0, duration_in_minutes=60,
    message=t.CharacterString("Credit low"), extended_message_control=0).serialize(), direction=S2C)
out["messaging_cancel_message"] = cluster(0x01, 0x81, CancelMessage(message_id=0xDEADBEEF, message_control=0).serialize(),
                                          direction=S2C)
out["messaging_get_last_message"] = cluster(0x00, 0x82, b"")
out["messaging_message_confirmation"] = cluster(0x01, 0x83, MessageConfirmation(
    message_id=0xDEADBEEF, confirmation_time=T0).serialize())
out["messaging_message_confirmation_se12"] = cluster(0x01, 0x84, MessageConfirmationSe12(
    message_id=1, confirmation_time=T0, message_confirmation_control=0x01, message_response=b"OK").serialize())
out["messaging_read_attributes_unsupported"] = general(GC.Read_Attributes_rsp, 0x85, S2C, status_records=[
    read_rec(0x0000, status=S.UNSUPPORTED_ATTRIBUTE)])

# --- Data types, in a Report Attributes on Basic (attribute ids are arbitrary)
types = [
    (D.bool_, t.Bool.true), (D.bool_, t.Bool.false), (D.data8, [0xAB]), (D.map16, 0xA55A), (D.map24, 0x123456),
    (D.map32, 0x89ABCDEF), (D.map48, 0x0000FFFF0000), (D.uint8, 255), (D.uint16, 65535), (D.uint24, 0xABCDEF),
    (D.uint32, 0xFFFFFFFE), (D.uint40, 0x0102030405), (D.uint56, 0x01020304050607), (D.uint64, 0xFFFFFFFFFFFFFFFF),
    (D.int8, -128), (D.int16, -2), (D.int40, -(2 ** 39)), (D.int48, 2 ** 47 - 1), (D.int56, -3), (D.int64, -(2 ** 63)),
    (D.enum16, 0x0102), (D.single, 1.5), (D.octstr, b"\x00\x7e\xff"), (D.string, "meter"),
    (D.UTC, 0xFFFFFFFF), (D.clusterId, 0x0702), (D.attribId, 0x0400),
]
records = [attr(0x1000 + i, tid, v) for i, (tid, v) in enumerate(types)]
records.append(f.Attribute(attrid=0x1100, value=f.TypeValue(type=D.EUI64, value=t.EUI64.convert("00:11:22:33:44:55:66:77"))))
out["basic_report_data_types"] = general(GC.Report_Attributes, 0x90, S2C, attribute_reports=records)

json.dump({k: v.hex() for k, v in out.items()}, sys.stdout, indent=1)
print()
